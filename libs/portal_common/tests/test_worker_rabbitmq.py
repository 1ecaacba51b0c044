"""The consumer on a real RabbitMQ: poison deliveries dead-lettered alone, transient failures retried through the
broker's retry tiers (``<ns>.policies.retry.<n>``, message TTL, dead-lettered back through ``<ns>.policies.requeue``),
the retry horizon, permanent errors at once.

Each test gets its own bus namespace with short retry tiers (0.2 s, 0.5 s) and deletes it afterwards; the handler's
effects go to a SQLite file (the broker is what these tests are about).
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from portal_common.bus import OutgoingMessage, Publisher, connect, delete_topology, load_topology, retry_queues
from portal_common.consumer import PermanentError, TransientError, Worker
from portal_common.retry import RetryPolicy
from portal_common.testing import (AMQP_URL, OCCURRED_AT, AppliedLog, bus_namespace, numbered_payload, plumbing_bus,
                                   raw_message, require_rabbitmq, take_dead_letters, wait_until)

pytestmark = pytest.mark.broker
NOW = OCCURRED_AT
EVENT = "policy.upserted"


class Stack:
    def __init__(self, tmp_path, horizon_s: float, consumers: int = 1):
        self.topology = load_topology(namespace=bus_namespace(), retry_delays=(0.2, 0.5))
        self.log = AppliedLog(tmp_path / "worker.db")
        self.calls: Counter = Counter()
        self.attempts_seen: dict[str, list[int]] = {}
        self.dependency_up = threading.Event()
        bus = plumbing_bus(self._apply, [EVENT], schema=numbered_payload())
        self.worker = Worker("policies", bus, self.log.session_factory, self.topology, url=AMQP_URL,
                             max_wait=0.1, retry_policy=RetryPolicy(horizon=timedelta(seconds=horizon_s)),
                             consumers=consumers)
        self.publisher = Publisher(self.topology, url=AMQP_URL, confirm_timeout=5.0)
        self.thread = threading.Thread(target=self.worker.run_forever, daemon=True)

    def _apply(self, data, *, uow, message):
        self.calls[message.message_id] += 1
        self.attempts_seen.setdefault(message.message_id, []).append(message.attempts)
        if data["action"] == "needs_dependency" and not self.dependency_up.is_set():
            raise TransientError("the policy is not known yet")
        if data["action"] == "permanent":
            raise PermanentError(f"unknown policy KGFB-{data['n']}")
        self.log.record(uow.session, message.message_id, data["n"])

    def publish(self, messages: list[OutgoingMessage]) -> list[str]:
        assert set(self.publisher.publish_batch(messages).values()) == {None}
        return [m.message_id for m in messages]

    def event(self, payload: dict) -> OutgoingMessage:
        return OutgoingMessage.for_event(str(uuid.uuid4()), EVENT, payload, occurred_at=NOW, correlation_id=None)

    def raw(self, body: bytes, content_type: str | None = None, **headers) -> OutgoingMessage:
        return raw_message(EVENT, body, content_type=content_type, **headers)

    def applied(self) -> list[int]:
        return self.log.applied()

    def dead_letters(self, expected: int, timeout: float = 30.0) -> list:
        return take_dead_letters(self.topology, "policies", expected, timeout, url=AMQP_URL)

    def stop(self):
        self.worker.stop()
        self.thread.join(timeout=15)
        self.publisher.close()
        self.log.dispose()
        with connect(AMQP_URL) as conn:
            delete_topology(conn, self.topology)


# Every test runs with one batch at a time and with 4 at once (appliers sharing the worker's one channel).
@pytest.fixture(params=[1, 4], ids=["one-batch-at-a-time", "4-batches-at-once"])
def stack(tmp_path, request):
    require_rabbitmq()
    marker = request.node.get_closest_marker("horizon")
    s = Stack(tmp_path, horizon_s=marker.args[0] if marker else 3600, consumers=request.param)
    s.thread.start()
    wait_until(lambda: s.worker.connected, timeout=30, interval=0.05, message="the worker to consume")
    yield s
    s.stop()


def test_the_retry_tiers_exist_on_the_broker_with_their_ttls(stack):
    with connect(AMQP_URL) as conn:
        channel = conn.channel()
        for queue in retry_queues(stack.topology, "policies", amqp_broker=True):
            queue(channel).queue_declare(passive=True)  # raises when missing
            assert queue.queue_arguments["x-message-ttl"] in (200, 500)


def test_poison_deliveries_are_dead_lettered_alone_and_the_good_ones_of_the_batch_applied(stack):
    batch = [stack.event({"n": 1}),
             stack.raw(b'{"n": 2}', version="v1"),
             stack.event({"n": 3}),
             stack.raw(b'{"n": 4, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"),
             stack.raw(b'{"n": 5}', event="account.closed"),
             stack.raw(b"[5]"),
             stack.raw(b'{"n": 6}', content_type="text/html"),
             stack.event({"n": 7})]
    ids = stack.publish(batch)
    dead = {m.properties["message_id"]: m.headers["x-dead-reason"] for m in stack.dead_letters(5)}
    wait_until(lambda: len(stack.applied()) == 3, timeout=30, message="the good messages of the batch")
    assert stack.applied() == [1, 3, 7]
    assert dead[ids[1]] == "header version must be an integer, not str 'v1'"
    assert dead[ids[3]].startswith("invalid JSON: nested deeper than")
    assert dead[ids[4]] == "event header 'account.closed' does not match the routing key 'policy.upserted'"
    assert dead[ids[5]] == "invalid message: the body must be a JSON object, not list"
    assert dead[ids[6]] == "content type 'text/html' is not application/json"
    assert stack.worker.connections == 1  # no reconnect, no redelivery of the batch


def test_a_transient_failure_waits_in_the_broker_and_is_applied_once_when_the_dependency_is_back(stack):
    retried = REGISTRY.get_sample_value("portal_messages_retried_total",
                                        {"service": "policies", "event": EVENT}) or 0
    [message_id] = stack.publish([stack.event({"n": 8, "action": "needs_dependency"})])
    wait_until(lambda: len(stack.attempts_seen.get(message_id, [])) >= 3, timeout=30,
               message="three deliveries through the retry tiers")
    assert stack.applied() == []
    stack.dependency_up.set()
    wait_until(lambda: stack.applied() == [8], timeout=30, message="the message after the dependency came back")
    seen = stack.attempts_seen[message_id]
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] >= 2  # x-attempts counted on each trip
    assert REGISTRY.get_sample_value("portal_messages_retried_total",
                                     {"service": "policies", "event": EVENT}) == retried + seen[-1]
    with connect(AMQP_URL) as conn:  # nothing left parked, nothing dead
        channel = conn.channel()
        for name in (*stack.topology.for_service("policies").retry_queues,
                     stack.topology.for_service("policies").dead_letter_queue):
            assert channel.queue_declare(name, passive=True).message_count == 0


@pytest.mark.horizon(1.5)
def test_past_the_retry_horizon_the_message_is_dead_lettered_with_its_attempt_history(stack):
    [message_id] = stack.publish([stack.event({"n": 9, "action": "needs_dependency"})])
    [dead] = stack.dead_letters(1)
    headers = dead.headers
    assert dead.properties["message_id"] == message_id
    assert headers["x-dead-reason"].startswith("gave up after ") and "retry horizon" in headers["x-dead-reason"]
    assert headers["x-attempts"] >= 2 and headers["x-first-failure-reason"] == "the policy is not known yet"
    assert headers["x-dead-routing-key"] == EVENT and headers["x-dead-service"] == "policies"
    assert headers["x-dead-queue"] == stack.topology.for_service("policies").queue
    assert headers["x-first-failure-at"] <= headers["x-dead-at"]
    assert "x-death" not in headers  # the broker's bookkeeping of the tiers is not carried along
    assert json.loads(dead.body) == {"n": 9, "action": "needs_dependency"} and stack.applied() == []


def test_a_permanent_error_is_dead_lettered_at_once_without_a_retry(stack):
    [message_id] = stack.publish([stack.event({"n": 10, "action": "permanent"})])
    [dead] = stack.dead_letters(1)
    assert dead.headers["x-dead-reason"] == "unknown policy KGFB-10" and dead.headers["x-attempts"] == 1
    assert stack.attempts_seen[message_id] == [0]


def test_a_replayed_dead_letter_goes_back_through_the_requeue_exchange(stack):
    """What the operator's replay does: publish the dead letter's body and properties to ``<svc>.requeue`` with
    the routing key ``x-dead-routing-key``; applied once, with its original message id."""
    [message_id] = stack.publish([stack.event({"n": 11, "action": "permanent"})])
    [dead] = stack.dead_letters(1)
    replay = OutgoingMessage(message_id, dead.headers["x-dead-routing-key"], b'{"n": 11}', {"version": 1},
                             exchange=stack.topology.for_service("policies").requeue_exchange)
    stack.publish([replay])
    wait_until(lambda: stack.applied() == [11], timeout=30, message="the replayed message")
