"""The real worker process over RabbitMQ: an event published with pika becomes exactly one e-mail, even twice."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pika
import pytest
import requests

from notify.bootstrap import EVENTS
from portal_common.bus import connect, declare_topology, delete_topology, load_topology
from portal_common.testing import AMQP_URL, bus_namespace, free_port, require_rabbitmq
from portal_common.testing import deadline_for

pytestmark = [pytest.mark.broker, pytest.mark.database, pytest.mark.slow]


def wait_until(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + deadline_for(timeout)
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def namespace():
    require_rabbitmq()
    ns = bus_namespace()
    topology = load_topology(namespace=ns)
    with connect(AMQP_URL) as conn:
        declare_topology(conn, topology)  # so the first publish is routed even before the worker is up
    yield ns
    with connect(AMQP_URL) as conn:
        delete_topology(conn, topology)


@pytest.fixture
def worker(pg_url, namespace, smtp_server, sms_server, tmp_path):
    health_port = free_port()
    env = dict(os.environ, PORTAL_NOTIFY_DATABASE_URL=pg_url, PORTAL_AMQP_URL=AMQP_URL,
               PORTAL_BUS_NAMESPACE=namespace, PORTAL_HEALTH_PORT=str(health_port),
               PORTAL_SMTP_URL=smtp_server.url, PORTAL_SMS_URL=sms_server.url, PORTAL_NOTIFY_POLL_INTERVAL_S="0.1")
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "notify.entrypoints.worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        def ready():
            assert proc.poll() is None, log_path.read_text()
            try:
                return requests.get(f"http://127.0.0.1:{health_port}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False
        wait_until(ready, what="the worker's /readyz")
        yield proc, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def pika_url(url: str) -> str:
    """kombu writes the default vhost as ``//``; pika wants it URL-encoded (``/%2F``)."""
    return url[:-2] + "/%2F" if url.endswith("//") else url


def publish(namespace: str, event: str, body: dict, message_id: str) -> None:
    """As identity publishes it: the contract version notify reads (v2 for the sealed events)."""
    connection = pika.BlockingConnection(pika.URLParameters(pika_url(AMQP_URL)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange=f"{namespace}.portal", routing_key=event, mandatory=True,
            body=json.dumps(body).encode(),
            properties=pika.BasicProperties(message_id=message_id, content_type="application/json", delivery_mode=2,
                                            type=event,
                                            headers={"event": event, "version": EVENTS[event].versions[-1]}))
    finally:
        connection.close()


def test_published_activation_request_is_mailed_exactly_once(worker, namespace, smtp_server, samples, secrets):
    _proc, log_path = worker
    event = "account.activation_requested"
    raw = {**samples[event], "email": f"r{uuid.uuid4().hex[:6]}@example.org"}
    message_id = str(uuid.uuid4())
    publish(namespace, event, raw, message_id)
    wait_until(lambda: len(smtp_server.messages) == 1, what="the activation e-mail")
    [mail] = smtp_server.messages
    assert mail["To"] == raw["email"] and "Aktiválja" in str(mail["Subject"])
    assert secrets["activation_url"] in mail.get_body(("plain",)).get_content()

    publish(namespace, event, raw, message_id)  # the same message again (a redelivery)
    # A later message arriving proves the duplicate before it has been consumed.
    marker = {**samples["account.password_changed"], "email": "marker@example.org"}
    publish(namespace, "account.password_changed", marker, str(uuid.uuid4()))
    wait_until(lambda: len(smtp_server.messages) == 2, what="the marker e-mail")
    time.sleep(0.5)
    assert [m["To"] for m in smtp_server.messages] == [raw["email"], "marker@example.org"]

    logged = log_path.read_text()
    assert '"delivery_sent"' in logged and '"message_duplicate"' in logged
    assert secrets["activation_url"] not in logged and raw["email"] not in logged
