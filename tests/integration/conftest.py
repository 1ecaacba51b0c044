"""Fixtures for the cross-service integration proofs: real RabbitMQ, real PostgreSQL, real worker processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest

from portal_common import testing
from portal_common.bus import connect, delete_topology, load_topology

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def amqp_url():
    return testing.require_rabbitmq()


@pytest.fixture
def namespace(amqp_url):
    ns = testing.bus_namespace()
    yield ns
    with connect(amqp_url) as conn:
        delete_topology(conn, load_topology(namespace=ns))


@pytest.fixture
def topology(namespace):
    return load_topology(namespace=namespace)


@pytest.fixture
def channel(amqp_url):
    """A raw pika channel: the tests play the outside system without the project's own bus code."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url[:-1] + "%2F" if amqp_url.endswith("//") else amqp_url))
    ch = conn.channel()
    ch.confirm_delivery()
    yield ch
    try:
        conn.close()
    except pika.exceptions.AMQPError:
        pass  # the broker may have closed it (the reconnection proof closes every connection)


@pytest.fixture
def policies_db():
    with testing.temp_postgres_database("proof_policies") as url:
        testing.migrate(ROOT / "services" / "policies" / "alembic.ini", url)
        yield url


@pytest.fixture
def counter_db():
    with testing.temp_postgres_database("proof_counter") as url:
        yield url


class Processes:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict, name: str) -> subprocess.Popen:
        log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}-{os.getpid()}-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, *args], env={**os.environ, **env}, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def processes():
    p = Processes()
    yield p
    p.stop_all()


@pytest.fixture
def policies_worker_env(policies_db, amqp_url, namespace):
    return {"PORTAL_POLICIES_DATABASE_URL": policies_db, "PORTAL_AMQP_URL": amqp_url, "PORTAL_BUS_NAMESPACE": namespace,
            "PORTAL_HEALTH_PORT": str(testing.free_port())}


@pytest.fixture
def counter_worker_env(counter_db, amqp_url, namespace):
    def build(service: str, events: str, **extra) -> dict:
        return {"COUNTER_DB": counter_db, "PORTAL_AMQP_URL": amqp_url, "PORTAL_BUS_NAMESPACE": namespace,
                "COUNTER_SERVICE": service, "COUNTER_EVENTS": events, **{k.upper(): str(v) for k, v in extra.items()}}

    return build
