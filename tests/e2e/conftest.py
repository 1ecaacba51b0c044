"""The whole portal as `make run` starts it — but on the real RabbitMQ and PostgreSQL — driven by Chromium.

The stack runs with its own bus namespace, fresh databases, a temporary var/ directory and shifted ports, so it
never disturbs a developer's own `make run`. Captured e-mail (the stack's aiosmtpd SMTP server) and SMS (its HTTP
SMS gateway) are read back from files, exactly as a developer would.
"""
from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from portal_common import testing
from portal_common.bus import connect, delete_topology, load_topology

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
SERVICES = ("identity", "policies", "documents", "notify")


class Portal:
    def __init__(self, url: str, var: Path, env: dict):
        self.url, self.var, self.env = url, var, env

    def mails(self, to: str) -> list[email.message.EmailMessage]:
        found = []
        for path in sorted((self.var / "mail").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if to.lower() in str(message["To"]).lower():
                found.append(message)
        return found

    @staticmethod
    def text(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    def sms(self, to: str) -> list[dict]:
        return [m for m in (json.loads(p.read_text()) for p in sorted((self.var / "sms").glob("*.json")))
                if m["to"] == to]


@pytest.fixture(scope="session")
def portal(tmp_path_factory):
    amqp = testing.require_rabbitmq()
    testing.require_postgres()
    var = tmp_path_factory.mktemp("portal-var")
    offset = 10000 + random.randrange(0, 100) * 100  # every port stays below the ephemeral range (32768+)
    http_port = 8000 + offset
    namespace = testing.bus_namespace()
    with contextlib.ExitStack() as stack:
        databases = {name: stack.enter_context(testing.temp_postgres_database(f"e2e_{name}")) for name in SERVICES}
        env = {**os.environ, "PORTAL_VAR_DIR": str(var), "PORTAL_DEVSTACK_PORT_OFFSET": str(offset),
               "PORTAL_HTTP_PORT": str(http_port), "PORTAL_AMQP_URL": amqp, "PORTAL_BUS_NAMESPACE": namespace,
               # The gateway's cache keeps sessions and lists for 10 minutes here, not 10 s and 5 minutes: every
               # journey then sees a change only through the services' events reaching every gateway process
               # (test_gateway_cache.py), never because an entry happened to be old enough.
               "PORTAL_GATEWAY_SESSION_RECHECK_SECONDS": "600", "PORTAL_GATEWAY_LIST_CACHE_SECONDS": "600",
               **{f"PORTAL_{name.upper()}_DATABASE_URL": url for name, url in databases.items()}}
        log = open(var / "devstack.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "portal_devstack"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{http_port}"
            testing.wait_until(lambda: proc.poll() is None and (var / "demo-seeded").exists() and _ready(url), 150,
                               interval=1, message=f"the portal to start (log: {var / 'devstack.log'})")
            yield Portal(url, var, env)
        finally:
            stop_group(proc, signal.SIGINT, 40)
            log.close()
            with connect(amqp) as conn:
                delete_topology(conn, load_topology(namespace=namespace))


def stop_group(proc: subprocess.Popen, sig: int, grace: float) -> None:
    """Stop a process started with ``start_new_session=True`` and its children: ``sig``, then SIGKILL after
    ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        message = f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root)"
        if testing.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(accept_downloads=True, locale="hu-HU")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
