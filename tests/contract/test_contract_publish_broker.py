"""contracts/publish.py against a real RabbitMQ: what arrives, and what happens when nothing is bound.

Declares only what it needs: the ``portal`` exchange exactly as topology.json says (when missing) and an exclusive,
server-named queue. Test messages use random policy numbers, since service queues on a shared dev broker may get a copy.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
import pytest
from portal_common.testing import deadline_for

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
PUBLISH_PY = CONTRACTS_DIR / "publish.py"
POLICY_EXAMPLE = CONTRACTS_DIR / "events" / "examples" / "policy.upserted.v1.json"

pytestmark = pytest.mark.broker


@pytest.fixture
def channel(amqp_url, topology):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(topology["exchange"], exchange_type="topic", durable=True)
    yield channel
    connection.close()


@pytest.fixture
def policy_queue(channel, topology) -> str:
    """An exclusive queue bound to portal with routing key policy.upserted; gone when the test's connection closes."""
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    channel.queue_bind(queue, topology["exchange"], routing_key="policy.upserted")
    return queue


def fresh_policy() -> dict:
    policy = json.loads(POLICY_EXAMPLE.read_text(encoding="utf-8"))
    policy["policy_number"] = f"CONTRACT-TEST-{uuid.uuid4().hex[:12]}"
    return policy


def get(channel, queue: str, timeout: float = 5.0):
    """basic_get until a message arrives (confirms mean it is already queued; the loop is only a safety net)."""
    deadline = time.monotonic() + deadline_for(timeout)
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return properties, body
        time.sleep(0.05)
    pytest.fail(f"no message arrived in {queue} within {timeout}s")


def run_publish(*args: str, namespace: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_BUS_NAMESPACE": namespace}
    return subprocess.run([sys.executable, str(PUBLISH_PY), *args], check=False, capture_output=True, text=True,
                          timeout=60, env=env)


def test_cli_publishes_the_body_properties_and_headers(amqp_url, channel, policy_queue, publish_module, tmp_path):
    policy = fresh_policy()
    message_file = tmp_path / "policy.json"
    message_file.write_text(json.dumps(policy, ensure_ascii=False), encoding="utf-8")
    message_id, correlation_id = str(uuid.uuid4()), f"corr-{uuid.uuid4()}"

    result = run_publish("policy.upserted", str(message_file), "--amqp-url", amqp_url,
                         "--message-id", message_id, "--correlation-id", correlation_id)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"published policy.upserted message_id={message_id}"
    properties, body = get(channel, policy_queue)
    assert json.loads(body) == policy
    assert properties.message_id == message_id
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.type == "policy.upserted"
    headers = properties.headers
    assert headers["event"] == "policy.upserted"
    assert headers["version"] == 1
    assert headers["correlation_id"] == correlation_id
    assert publish_module.is_date_time(headers["occurred_at"]) and headers["occurred_at"].endswith("+00:00")


def test_cli_publishes_each_element_of_an_array_with_its_own_id(amqp_url, channel, policy_queue, tmp_path):
    policies = [fresh_policy(), fresh_policy()]
    message_file = tmp_path / "policies.json"
    message_file.write_text(json.dumps(policies), encoding="utf-8")

    result = run_publish("policy.upserted", str(message_file), "--amqp-url", amqp_url)

    assert result.returncode == 0, result.stderr
    printed_ids = [line.split("message_id=")[1] for line in result.stdout.splitlines()]
    received = [get(channel, policy_queue) for _ in policies]
    assert [json.loads(body) for _, body in received] == policies
    assert [properties.message_id for properties, _ in received] == printed_ids
    assert len(set(printed_ids)) == 2
    assert received[0][0].headers["correlation_id"] == received[1][0].headers["correlation_id"]


def test_unroutable_message_is_an_error(amqp_url, channel, topology, publish_module):
    routing_key = f"contract.test.unbound.{uuid.uuid4().hex}"
    with pytest.raises(publish_module.NotDelivered, match="unroutable") as raised:
        publish_module.publish(amqp_url, "policy.upserted", [fresh_policy()],
                               exchange=topology["exchange"], routing_key=routing_key)
    assert raised.value.exit_code == 3
    assert routing_key in str(raised.value)


def test_unroutable_message_exits_3(amqp_url, channel, publish_module, monkeypatch, capsys):
    monkeypatch.delenv("PORTAL_BUS_NAMESPACE", raising=False)
    routing_key = f"contract.test.unbound.{uuid.uuid4().hex}"
    monkeypatch.setattr(publish_module, "publish", functools.partial(publish_module.publish, routing_key=routing_key))

    exit_code = publish_module.main(["policy.upserted", str(POLICY_EXAMPLE), "--amqp-url", amqp_url])

    assert exit_code == 3
    assert "is unroutable: no queue is bound" in capsys.readouterr().err


def test_missing_exchange_means_topology_not_declared(amqp_url, publish_module):
    missing = f"contract.test.missing.{uuid.uuid4().hex}"
    with pytest.raises(publish_module.PublishError, match="topology isn't declared") as raised:
        publish_module.publish(amqp_url, "policy.upserted", [fresh_policy()], exchange=missing)
    assert raised.value.exit_code == 1
    assert "definitions.json" in str(raised.value)


def test_bus_namespace_prefixes_the_exchange(amqp_url, channel, topology, tmp_path):
    namespace = f"contract-test-{uuid.uuid4().hex[:8]}"
    exchange = f"{namespace}.{topology['exchange']}"
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    try:
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, exchange, routing_key="policy.upserted")
        policy = fresh_policy()
        message_file = tmp_path / "policy.json"
        message_file.write_text(json.dumps(policy), encoding="utf-8")

        result = run_publish("policy.upserted", str(message_file), "--amqp-url", amqp_url, namespace=namespace)

        assert result.returncode == 0, result.stderr
        assert json.loads(get(channel, queue)[1]) == policy
    finally:
        channel.exchange_delete(exchange)


def test_kombu_style_default_vhost_url_is_accepted(amqp_url, channel, policy_queue, tmp_path):
    if not amqp_url.endswith("/%2F"):
        pytest.skip("needs a URL for the default vhost")
    message_file = tmp_path / "policy.json"
    message_file.write_text(json.dumps(fresh_policy()), encoding="utf-8")
    result = run_publish("policy.upserted", str(message_file), "--amqp-url", amqp_url[: -len("%2F")] + "/")
    assert result.returncode == 0, result.stderr
    get(channel, policy_queue)
