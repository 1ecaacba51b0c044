"""The RabbitMQ definitions export (deploy/rabbitmq/definitions.json) and what every process declares at start must
agree: RabbitMQ refuses to redeclare a queue with other arguments (PRECONDITION_FAILED), which would stop every
process of the portal at start."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal_common.bus import (
    connect,
    declare_topology,
    delete_topology,
    export_definitions,
    load_topology,
    retry_queues,
    service_queues,
)
from portal_common.testing import bus_namespace, require_rabbitmq

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts"


@pytest.fixture
def topology():
    return load_topology(CONTRACTS / "topology.json", namespace="")


def exported_queues(topology) -> dict[str, dict]:
    return {q["name"]: q for q in export_definitions(topology)["queues"]}


def test_event_queues_are_quorum_with_a_delivery_limit_and_dead_letter_to_their_service(topology):
    queues = exported_queues(topology)
    for service, sq in topology.services.items():
        assert queues[sq.queue]["arguments"] == {
            "x-queue-type": "quorum", "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": "portal.dlx", "x-dead-letter-routing-key": service}
        assert queues[sq.dead_letter_queue]["arguments"] == {"x-queue-type": "quorum"}  # no limit: kept until read
        assert queues[sq.queue]["durable"] and queues[sq.dead_letter_queue]["durable"]
    assert topology.delivery_limit == json.loads((CONTRACTS / "topology.json").read_text())["delivery_limit"]


@pytest.mark.parametrize("service", ["policies", "identity", "documents", "notify"])
def test_the_export_uses_the_arguments_declare_topology_uses_on_rabbitmq(topology, service):
    queue, dead = service_queues(topology, service, amqp_broker=True)
    queues = exported_queues(topology)
    assert queues[queue.name]["arguments"] == queue.queue_arguments
    assert queues[dead.name]["arguments"] == dead.queue_arguments
    for tier in retry_queues(topology, service, amqp_broker=True):
        assert queues[tier.name]["arguments"] == tier.queue_arguments


def test_the_export_binds_exactly_the_topology(topology):
    definitions = export_definitions(topology)
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    expected = set()
    for service, sq in topology.services.items():
        expected |= {("portal", sq.queue, key) for key in sq.bindings}
        expected.add(("portal.dlx", sq.dead_letter_queue, service))  # the broker's dead letters (delivery limit)
        expected.add((f"{service}.dead", sq.dead_letter_queue, ""))  # the consumer's own, with their reason
        expected.add((f"{service}.requeue", sq.queue, "#"))  # expired retries and replays go back to work
        expected |= {(f"{service}.retry.{n}", f"{service}.retry.{n}", "") for n in range(5)}
    assert bindings == expected
    assert {(e["name"], e["type"], e["durable"]) for e in definitions["exchanges"]} == {
        ("portal", "topic", True), ("portal.dlx", "direct", True),
        *((f"{service}.requeue", "topic", True) for service in topology.services),
        *((f"{service}.dead", "fanout", True) for service in topology.services),
        *((f"{service}.retry.{n}", "fanout", True) for service in topology.services for n in range(5))}


def test_retry_tiers_expire_into_their_service_requeue_exchange_with_growing_delays(topology):
    queues = exported_queues(topology)
    definitions = export_definitions(topology)
    for service, sq in topology.services.items():
        ttls = [queues[f"{service}.retry.{n}"]["arguments"]["x-message-ttl"] for n in range(5)]
        assert ttls == [5_000, 30_000, 300_000, 1_800_000, 7_200_000]
        for n in range(5):
            arguments = queues[f"{service}.retry.{n}"]["arguments"]
            assert arguments["x-dead-letter-exchange"] == f"{service}.requeue"
            assert "x-dead-letter-routing-key" not in arguments  # the event's routing key is kept
            [b] = [b for b in definitions["bindings"] if b["destination"] == f"{service}.retry.{n}"]
            assert b["source"] == f"{service}.retry.{n}"  # its own fanout exchange: no other service's user parks here


def test_the_file_bus_declares_plain_queues(topology):
    queue, dead = service_queues(topology, "policies", amqp_broker=False)
    assert queue.queue_arguments is None and dead.queue_arguments is None


@pytest.mark.broker
def test_rabbitmq_accepts_the_exported_arguments_on_queues_declare_topology_created():
    """Declare with the code, then redeclare every queue with the exported arguments: any difference would be a
    PRECONDITION_FAILED channel error."""
    url = require_rabbitmq()
    topology = load_topology(CONTRACTS / "topology.json", namespace=bus_namespace())
    with connect(url) as conn:
        try:
            declare_topology(conn, topology)
            declare_topology(conn, topology)  # every process does it at start: idempotent
            for q in export_definitions(topology)["queues"]:
                channel = conn.channel()
                try:
                    channel.queue_declare(queue=q["name"], durable=True, auto_delete=False,
                                          arguments=q["arguments"])
                finally:
                    channel.close()
        finally:
            delete_topology(conn, topology)
