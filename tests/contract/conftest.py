"""Fixtures shared by the contract tests: the publish.py module, topology.json and a reachable RabbitMQ.

Broker tests take the ``amqp_url`` fixture. Without a broker they are skipped on a developer's machine, but with
CI=true they fail, so CI can never go green by silently skipping them.

Test modules share only fixtures, never ``from conftest import ...``: with several conftest.py files in the repo
(and under --import-mode=importlib) that import is ambiguous. Each module computes its paths from __file__.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
DEFAULT_TEST_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def publish_module():
    """contracts/publish.py imported from its path (it is a stand-alone script, not a package)."""
    spec = importlib.util.spec_from_file_location("contracts_publish", CONTRACTS_DIR / "publish.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def topology() -> dict:
    return json.loads((CONTRACTS_DIR / "topology.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL (pika spelling) of a reachable RabbitMQ: $PORTAL_TEST_AMQP_URL, else the local guest account.

    Unreachable: skip, or fail when CI=true (CI must exercise the broker tests).
    """
    import pika
    from pika import exceptions

    url = os.environ.get("PORTAL_TEST_AMQP_URL", DEFAULT_TEST_AMQP_URL)
    if url.endswith("//"):  # kombu's spelling of vhost "/", which pika would read as vhost ""
        url = url[:-1] + "%2F"
    params = pika.URLParameters(url)
    params.socket_timeout, params.stack_timeout, params.connection_attempts = 3, 5, 1
    try:
        pika.BlockingConnection(params).close()
    except (exceptions.AMQPError, OSError) as exc:
        reason = f"RabbitMQ is not reachable at {params.host}:{params.port} vhost {params.virtual_host!r}: {exc!r}"
        if in_ci():
            pytest.fail(f"{reason}. CI=true requires the broker tests to run: start rabbitmq-server.", pytrace=False)
        pytest.skip(f"{reason} (with CI=true this fails)")
    return url
