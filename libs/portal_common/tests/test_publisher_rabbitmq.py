"""The publisher against a real RabbitMQ: pipelined confirms, unroutable messages reported, reconnect after a loss.

Each test gets its own bus namespace (``<ns>.portal``, ``<ns>.policies.events`` …) and deletes it afterwards.
"""
from __future__ import annotations

import json
import socket
import uuid

import pytest

from portal_common.bus import OutgoingMessage, Publisher, PublishError, connect, delete_topology, load_topology
from portal_common.testing import AMQP_URL, bus_namespace, free_port, require_rabbitmq

pytestmark = pytest.mark.broker
NOW = "2026-11-21T10:00:00+00:00"


@pytest.fixture
def topology():
    url = require_rabbitmq()
    topology = load_topology(namespace=bus_namespace())
    yield topology
    with connect(url) as conn:
        delete_topology(conn, topology)


@pytest.fixture
def publisher(topology):
    publisher = Publisher(topology, url=AMQP_URL, confirm_timeout=5.0)
    yield publisher
    publisher.close()


def message(event="policy.upserted", n=0) -> OutgoingMessage:
    return OutgoingMessage.for_event(str(uuid.uuid4()), event, {"policy_number": f"KGFB-{n}"}, occurred_at=NOW,
                                     correlation_id="corr-pub")


def queued(topology, queue: str) -> int:
    with connect(AMQP_URL) as conn:
        channel = conn.channel()
        try:
            return channel.queue_declare(queue=queue, passive=True).message_count
        finally:
            channel.close()


def test_a_batch_is_confirmed_and_routed_to_every_bound_queue(publisher, topology):
    batch = [message(n=n) for n in range(50)]
    results = publisher.publish_batch(batch)
    assert results == {m.message_id: None for m in batch}
    # policy.upserted is bound by policies, identity and documents
    for service in ("policies", "identity", "documents"):
        assert queued(topology, topology.for_service(service).queue) == 50
    assert queued(topology, topology.for_service("notify").queue) == 0


def test_the_message_carries_the_documented_properties_and_headers(publisher, topology):
    sent = message("policy.enrolled")
    assert publisher.publish_batch([sent]) == {sent.message_id: None}
    with connect(AMQP_URL) as conn:
        got = conn.channel().basic_get(topology.for_service("notify").queue, no_ack=True)
    assert json.loads(got.body) == {"policy_number": "KGFB-0"}
    props = got.properties
    assert props["message_id"] == sent.message_id and props["type"] == "policy.enrolled"
    assert props["content_type"] == "application/json" and props["delivery_mode"] == 2
    headers = {k: v for k, v in props["application_headers"].items() if k != "x-delivery-count"}  # quorum adds it
    assert headers == {"event": "policy.enrolled", "version": 1, "occurred_at": NOW, "correlation_id": "corr-pub"}


def test_an_unroutable_message_is_an_error_for_that_message_only(publisher, topology):
    before, lost, after = message(n=1), message("nobody.listens", n=2), message(n=3)
    results = publisher.publish_batch([before, lost, after])
    assert results[before.message_id] is None and results[after.message_id] is None
    assert results[lost.message_id].startswith("unroutable")
    assert "nobody.listens" in results[lost.message_id]
    assert queued(topology, topology.for_service("policies").queue) == 2


def test_a_lost_connection_raises_publish_error_and_the_next_batch_reconnects(publisher, topology):
    assert publisher.publish_batch([message(n=1)])
    # The network drops under the publisher's feet.
    publisher._conn.connection.transport.sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(PublishError):
        publisher.publish_batch([message(n=2)])
    again = message(n=3)
    assert publisher.publish_batch([again]) == {again.message_id: None}
    assert queued(topology, topology.for_service("policies").queue) == 2


def test_an_unreachable_broker_raises_publish_error_within_the_timeouts(topology):
    port = free_port()  # nothing listens there
    publisher = Publisher(topology, url=f"amqp://guest:guest@127.0.0.1:{port}//", confirm_timeout=2.0)
    with pytest.raises(PublishError):
        publisher.publish_batch([message()])
    publisher.close()
