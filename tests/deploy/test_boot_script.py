"""deploy/boot.sh: POSIX sh, bounded waits with clear errors, and the right final command per role.

PORTAL_BOOT_DRY_RUN=1 makes the script print the command it would exec, so no service needs to be installed.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from portal_common.testing import free_port

REPO = Path(__file__).resolve().parents[2]

BOOT = REPO / "deploy" / "boot.sh"


def boot(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    base.update({"PYTHON": sys.executable, "PORTAL_BOOT_DRY_RUN": "1", "PORTAL_WAIT_TIMEOUT": "5", **env})
    return subprocess.run(["sh", str(BOOT), *args], cwd=REPO, env=base, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def listening_port():
    """A TCP port on loopback that accepts connections (stands in for the broker and the database)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.fixture()
def closed_port():
    return free_port()  # nothing listens there


@pytest.mark.parametrize("script", sorted((REPO / "deploy").rglob("*.sh")), ids=lambda p: p.name)
@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_shell_scripts_parse(shell, script):
    """Every deploy script is POSIX sh: the rabbitmq, postgres and minio images and python:slim differ in shells."""
    if not shutil.which(shell):
        pytest.skip(f"{shell} not installed")
    subprocess.run([shell, "-n", str(script)], check=True)


def test_api_runs_gunicorn_with_the_service_config(listening_port):
    result = boot("api", PORTAL_SERVICE="identity",
                  PORTAL_AMQP_URL=f"amqp://portal:secret@127.0.0.1:{listening_port}/%2F",
                  PORTAL_IDENTITY_DATABASE_URL=f"postgresql+psycopg2://identity:pw@127.0.0.1:{listening_port}/identity")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "gunicorn -c services/identity/gunicorn.conf.py --bind 0.0.0.0:8000 identity.entrypoints.api:create_app()"
    )
    assert "secret" not in result.stderr and "pw@" not in result.stderr, "credentials must not be logged"


def test_api_starts_while_the_broker_is_down(listening_port, closed_port):
    """APIs write to their outbox; the broker is the worker's business (issue 7 item 10)."""
    result = boot("api", PORTAL_SERVICE="documents", PORTAL_WAIT_TIMEOUT="2",
                  PORTAL_AMQP_URL=f"amqp://u:p@127.0.0.1:{closed_port}/",
                  PORTAL_DOCUMENTS_DATABASE_URL=f"postgresql://d:p@127.0.0.1:{listening_port}/documents")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("gunicorn -c services/documents/gunicorn.conf.py")
    assert "broker" not in result.stderr


def test_worker_runs_the_worker_module(listening_port):
    result = boot("worker", PORTAL_SERVICE="documents",
                  PORTAL_AMQP_URL=f"amqp://u:p@127.0.0.1:{listening_port}/",
                  PORTAL_DOCUMENTS_DATABASE_URL=f"postgresql+psycopg2://d:p@127.0.0.1:{listening_port}/documents")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{sys.executable} -m documents.entrypoints.worker"


def test_migrate_runs_alembic_without_the_broker(listening_port):
    result = boot("migrate", PORTAL_SERVICE="notify",
                  PORTAL_NOTIFY_DATABASE_URL=f"postgresql+psycopg2://n:p@127.0.0.1:{listening_port}/notify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "alembic -c services/notify/alembic.ini upgrade head"


def test_gateway_api_needs_no_database():
    result = boot("api", PORTAL_SERVICE="gateway", PORTAL_HTTP_PORT="8080")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gunicorn -c gateway/gunicorn.conf.py --bind 0.0.0.0:8080 gateway.app:create_app()"


def test_unreachable_broker_fails_within_the_timeout(closed_port):
    result = boot("worker", PORTAL_SERVICE="identity", PORTAL_WAIT_TIMEOUT="2",
                  PORTAL_AMQP_URL=f"amqp://u:p@127.0.0.1:{closed_port}/")
    assert result.returncode != 0
    assert f"broker at 127.0.0.1:{closed_port} not reachable after 2s" in result.stderr


def test_worker_without_broker_url_fails():
    result = boot("worker", PORTAL_SERVICE="identity")
    assert result.returncode != 0
    assert "PORTAL_AMQP_URL is not set" in result.stderr


def test_unknown_role_prints_usage():
    result = boot("serve", PORTAL_SERVICE="identity")
    assert result.returncode == 64
    assert "usage:" in result.stderr


def test_service_name_is_validated():
    result = boot("api", PORTAL_SERVICE="identity;rm")
    assert result.returncode != 0
    assert "PORTAL_SERVICE" in result.stderr
