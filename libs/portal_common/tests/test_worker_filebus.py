"""The idempotent consumer on the embedded file bus (``make run``: no PORTAL_AMQP_URL, kombu's filesystem transport).

The worker runs in a thread; messages are published with ``Publisher(url=None)`` — once from another process, which
proves that a binding declared by one process routes what another publishes (the transport's control folder).
Dead letters are read back from ``policies.dead`` like an operator would.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from kombu import Consumer
from prometheus_client import REGISTRY
from sqlalchemy.exc import OperationalError

from portal_common import compat
from portal_common.bus import OutgoingMessage, Publisher, connect, declare_topology, load_topology, service_queues
from portal_common.consumer import PermanentError, TransientError, Worker
from portal_common.delivery import Limits
from portal_common.retry import RetryPolicy
from portal_common.testing import (OCCURRED_AT, AppliedLog, fresh_file_bus_memory, numbered_payload, plumbing_bus,
                                   raw_message, take_dead_letters, wait_until)

NOW = OCCURRED_AT
EVENT = "policy.upserted"  # bound to policies.events in contracts/topology.json


class Bus:
    """A policies worker on the file bus under ``tmp_path``, with a handler whose behaviour the payload picks.
    Retry tiers of 0.05 s and 0.1 s; an error of unknown kind is given up after 3 deliveries."""

    def __init__(self, tmp_path, horizon_s: float = 3600):
        self.log = AppliedLog(tmp_path / "worker.db")
        self.topology = load_topology(namespace="", retry_delays=(0.05, 0.1))
        self.calls: Counter = Counter()
        self.after_commit: list[int] = []
        self.attempts_applied: dict[str, int] = {}
        self.database_down = False
        bus = plumbing_bus(self._apply, [EVENT], schema=numbered_payload())
        self.worker = Worker("policies", bus, self.log.session_factory, self.topology, url=None, max_wait=0.02,
                             retry_policy=RetryPolicy(horizon=timedelta(seconds=horizon_s), unknown_attempts=3),
                             limits=Limits(max_bytes=64 * 1024))
        self.publisher = Publisher(self.topology, url=None)
        self.thread = threading.Thread(target=self.worker.run_forever, daemon=True)

    def _apply(self, data, *, uow, message):
        self.calls[message.message_id] += 1
        if self.database_down:
            raise OperationalError("INSERT INTO applied", {}, ConnectionError("server closed the connection"))
        action = data["action"]
        uow.after_commit(lambda: self.after_commit.append(data["n"]))
        if action == "half":  # an effect, then the failure: the effect must not survive
            self.log.record(uow.session, message.message_id, data["n"])
            raise PermanentError(f"policy {data['n']} cannot be applied")
        if action == "permanent":
            raise PermanentError(f"unknown policy KGFB-{data['n']}")
        if action == "boom":
            raise RuntimeError("the core system is having a bad day")
        if action == "flaky" and message.attempts < 2:  # the first two deliveries fail
            raise TransientError("the policy is not known yet")
        if action == "waiting":
            raise TransientError("the policy is not known yet")
        self.log.record(uow.session, message.message_id, data["n"])
        self.attempts_applied[message.message_id] = message.attempts

    # -- publishing
    def send(self, *payloads, message_id=None) -> list[str]:
        messages = [OutgoingMessage.for_event(message_id or str(uuid.uuid4()), EVENT, p, occurred_at=NOW,
                                              correlation_id=None) for p in payloads]
        assert set(self.publisher.publish_batch(messages).values()) == {None}
        return [m.message_id for m in messages]

    def send_raw(self, body: bytes, *, content_type: str | None = None, **headers) -> str:
        message = raw_message(EVENT, body, content_type=content_type, **headers)
        assert self.publisher.publish_batch([message]) == {message.message_id: None}
        return message.message_id

    # -- observing
    def applied(self, message_id=None) -> list[int]:
        return self.log.applied(message_id)

    def processed(self) -> int:
        return self.log.processed()

    def dead_letters(self, expected: int, timeout: float = 10.0) -> list:
        """Read ``expected`` messages from the dead-letter queue (acked: taken off the queue), raw: no decoding."""
        return take_dead_letters(self.topology, "policies", expected, timeout)

    def stop(self):
        self.worker.stop()
        self.thread.join(timeout=10)
        self.publisher.close()
        self.log.dispose()


def start_bus(tmp_path, monkeypatch, **options) -> Bus:
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    for name in ("PORTAL_AMQP_URL", "PORTAL_ENV", "PORTAL_BUS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    fresh_file_bus_memory(monkeypatch)
    bus = Bus(tmp_path, **options)
    bus.thread.start()
    wait_until(lambda: bus.worker.connected, timeout=10, interval=0.02, message="the worker to consume")
    return bus


@pytest.fixture
def bus(tmp_path, monkeypatch):
    bus = start_bus(tmp_path, monkeypatch)
    yield bus
    bus.stop()
    assert not bus.thread.is_alive()


def counter(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, {"service": "policies", "event": EVENT, **labels}) or 0.0


def test_a_message_published_by_another_process_is_routed_by_the_workers_bindings(bus):
    """The other process declares only the exchange: the queue and its binding exist only in the control folder,
    written by this process's worker. The message is bare (no headers, as a simple internal system may send it):
    the event comes from the routing key."""
    message_id = str(uuid.uuid4())
    script = (
        "from kombu import Producer\n"
        "from portal_common.bus import connect, load_topology, main_exchange\n"
        "with connect(None) as conn:\n"
        "    channel = conn.channel()\n"
        "    exchange = main_exchange(load_topology(namespace=''))(channel)\n"
        "    exchange.declare()\n"
        f"    Producer(channel).publish(b'{{\"n\": 7}}', exchange=exchange, routing_key={EVENT!r},\n"
        "        content_type='application/json', content_encoding='utf-8', serializer=None,\n"
        f"        message_id={message_id!r}, retry=False)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: bus.applied(message_id), timeout=10, message="the message from the other process")
    assert bus.applied() == [7]


def test_a_duplicate_message_id_is_applied_once(bus):
    duplicates = counter("portal_messages_consumed_total", outcome="duplicate")
    [message_id] = bus.send({"n": 1})
    wait_until(lambda: bus.applied(message_id), timeout=10, message="the first delivery")
    bus.send({"n": 1}, message_id=message_id)  # the same event again (a redelivery, a publisher retry)
    bus.send({"n": 1}, {"n": 1}, message_id=message_id)  # … twice within one batch
    wait_until(lambda: counter("portal_messages_consumed_total", outcome="duplicate") >= duplicates + 3,
               timeout=10, message="the duplicates to be consumed")
    assert bus.applied(message_id) == [1]
    assert bus.calls[message_id] == 1 and bus.processed() == 1


def test_invalid_json_is_dead_lettered_with_the_reason_and_the_original_headers(bus):
    message_id = bus.send_raw(b'{"n": 1,')
    [dead] = bus.dead_letters(1)
    assert dead.properties["message_id"] == message_id
    assert dead.headers["x-dead-reason"].startswith("invalid JSON")
    assert dead.headers["x-dead-queue"] == "policies.events" and dead.headers["x-dead-at"]
    assert dead.headers["event"] == EVENT  # the original headers stay
    assert dead.body == b'{"n": 1,'  # … and the body, byte for byte
    assert bus.calls[message_id] == 0 and bus.applied() == []


POISON = {
    # kind: (body, publish options, the dead-letter reason starts with)
    "version header not an integer": (b'{"n": 1}', {"version": "v1"}, "header version must be an integer"),
    "nested past the parser": (b'{"n": 1, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", {},
                               "invalid JSON: nested deeper than"),
    "nested past the limit": (b'{"n": 1, "x": ' + b"[" * 40 + b"]" * 40 + b"}", {},
                              "invalid JSON: nested deeper than 32 levels"),
    "too large": (b'{"n": 1, "x": "' + b"a" * 70_000 + b'"}', {}, "message too large: 70017 bytes, the limit is 65536"),
    "not JSON": (b'{"n": 1,', {}, "invalid JSON"),
    "not UTF-8": (b'{"n": "\xff"}', {}, "invalid JSON: not UTF-8"),
    "not an object": (b"[1, 2]", {}, "invalid message: the body must be a JSON object"),
    "wrong content type": (b'{"n": 1}', {"content_type": "text/plain"}, "content type 'text/plain'"),
    "event header of another event": (b'{"n": 1}', {"event": "account.closed"},
                                      "event header 'account.closed' does not match the routing key"),
    "correlation id not a string": (b'{"n": 1}', {"correlation_id": 42}, "header correlation_id must be a string"),
    "schema violation": (b'{"n": "one"}', {}, "schema violation"),
}


@pytest.mark.parametrize("kind", sorted(POISON))
def test_a_poison_delivery_is_dead_lettered_alone_at_once_with_its_reason(bus, kind):
    body, options, reason = POISON[kind]
    connections = bus.worker.connections
    good = bus.send({"n": 1})
    options = dict(options)
    poison = bus.send_raw(body, content_type=options.pop("content_type", None), **options)
    good += bus.send({"n": 2})
    [dead] = bus.dead_letters(1)
    assert dead.properties["message_id"] == poison
    assert dead.headers["x-dead-reason"].startswith(reason), dead.headers["x-dead-reason"]
    assert dead.headers["x-dead-routing-key"] == EVENT and dead.headers["x-attempts"] == 1
    assert dead.body == body  # byte for byte
    wait_until(lambda: len(bus.applied()) == 2, timeout=10, message="the good messages of the batch")
    assert bus.applied() == [1, 2] and bus.calls[poison] == 0
    assert bus.worker.connections == connections  # the consumer never reconnected


def test_an_event_the_service_has_no_route_for_is_dead_lettered_under_one_metric_label(bus):
    """Published to the service's requeue exchange (as an operator's replay would be): the routing key is bound,
    the service has no route. Unknown event names never become metric labels of their own."""
    before = REGISTRY.get_sample_value("portal_messages_dead_lettered_total",
                                       {"service": "policies", "event": "unknown", "reason": "unknown_event"}) or 0
    message_id = str(uuid.uuid4())
    name = f"policy.deleted.{uuid.uuid4().hex}"
    message = OutgoingMessage(message_id, name, b'{"n": 1}', {"version": 1},
                              exchange=bus.topology.for_service("policies").requeue_exchange)
    assert bus.publisher.publish_batch([message]) == {message_id: None}
    [dead] = bus.dead_letters(1)
    assert dead.headers["x-dead-reason"].startswith(f"unknown event {name!r}")
    assert dead.headers["x-dead-routing-key"] == name
    after = REGISTRY.get_sample_value("portal_messages_dead_lettered_total",
                                      {"service": "policies", "event": "unknown", "reason": "unknown_event"})
    assert after == before + 1
    assert REGISTRY.get_sample_value("portal_messages_consumed_total", {
        "service": "policies", "event": name, "outcome": "dead_lettered"}) is None


def test_a_transient_failure_is_retried_through_the_retry_tiers_and_applied_once(bus):
    retried = counter("portal_messages_retried_total")
    dead_lettered = counter("portal_messages_consumed_total", outcome="dead_lettered")
    [message_id] = bus.send({"n": 3, "action": "flaky"})
    wait_until(lambda: bus.applied(message_id), timeout=10, message="the retried message")
    assert bus.attempts_applied[message_id] == 2  # failed twice, applied on the second retry
    assert bus.applied(message_id) == [3] and bus.after_commit == [3]
    assert counter("portal_messages_retried_total") == retried + 2
    assert counter("portal_messages_consumed_total", outcome="dead_lettered") == dead_lettered
    with connect(None) as conn:
        _queue, dead = service_queues(bus.topology, "policies", False)
        assert dead(conn.channel()).queue_declare(passive=True).message_count == 0


def test_past_the_retry_horizon_a_transient_failure_is_dead_lettered_with_its_history(tmp_path, monkeypatch):
    bus = start_bus(tmp_path, monkeypatch, horizon_s=0.5)
    try:
        [message_id] = bus.send({"n": 5, "action": "waiting"})
        [dead] = bus.dead_letters(1, timeout=20)
    finally:
        bus.stop()
    headers = dead.headers
    assert dead.properties["message_id"] == message_id
    assert headers["x-dead-reason"].startswith("gave up after ")
    assert "retry horizon" in headers["x-dead-reason"] and "the policy is not known yet" in headers["x-dead-reason"]
    assert headers["x-attempts"] >= 2 and bus.calls[message_id] >= headers["x-attempts"]
    assert headers["x-first-failure-reason"] == "the policy is not known yet"
    first = datetime.fromisoformat(headers["x-first-failure-at"])
    assert first <= datetime.fromisoformat(headers["x-dead-at"])
    assert json.loads(dead.body) == {"n": 5, "action": "waiting"} and bus.applied() == []


def test_an_error_of_unknown_kind_is_retried_a_few_times_then_dead_lettered(bus):
    [message_id] = bus.send({"n": 2, "action": "boom"})
    [dead] = bus.dead_letters(1)
    assert dead.properties["message_id"] == message_id
    reason = dead.headers["x-dead-reason"]
    assert reason == "gave up after 3 attempts: RuntimeError: the core system is having a bad day"
    assert bus.calls[message_id] == 3 and dead.headers["x-attempts"] == 3
    assert json.loads(dead.body) == {"n": 2, "action": "boom"}


def test_a_permanent_error_is_dead_lettered_at_once(bus):
    retried = counter("portal_messages_retried_total")
    [message_id] = bus.send({"n": 4, "action": "permanent"})
    [dead] = bus.dead_letters(1)
    assert dead.headers["x-dead-reason"] == "unknown policy KGFB-4"
    assert dead.headers["x-dead-service"] == "policies" and dead.headers["x-attempts"] == 1
    assert counter("portal_messages_retried_total") == retried  # no retry
    assert bus.calls[message_id] <= 2  # the batch attempt and its per-message replay, nothing more


def test_one_bad_message_does_not_hold_back_the_others_of_its_batch_nor_leave_a_half_effect(bus):
    ids = bus.send({"n": 10}, {"n": 11, "action": "half"}, {"n": 12}, {"n": 13, "action": "permanent"}, {"n": 14})
    dead = bus.dead_letters(2)
    assert sorted(m.properties["message_id"] for m in dead) == sorted([ids[1], ids[3]])
    wait_until(lambda: len(bus.applied()) >= 3, timeout=10, message="the good messages")
    assert bus.applied() == [10, 12, 14]  # 11's insert was rolled back with its savepoint
    assert bus.processed() == 3
    assert sorted(bus.after_commit) == [10, 12, 14]  # after-commit work only for what was committed


def test_no_message_is_lost_while_a_consumer_polls_during_publishing(tmp_path, monkeypatch):
    """Regression: kombu's filesystem transport created the message file before writing it, so a consumer polling
    at that moment took an empty file and the message was lost (~1 in 3,000). bus.connect writes aside and renames."""
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("PORTAL_AMQP_URL", raising=False)
    fresh_file_bus_memory(monkeypatch)
    topology = load_topology(namespace="")
    total, got, errors, stop = 3000, [], [], threading.Event()
    queue, _dead = service_queues(topology, "notify", False)

    def consume():
        with connect(None) as conn:
            consumer = Consumer(conn.channel(), queues=[queue], auto_declare=False,
                                on_message=lambda m: (got.append(m.body), m.ack()))
            with consumer:
                while not stop.is_set():
                    try:
                        conn.drain_events(timeout=0.02)
                    except (socket.timeout, TimeoutError):
                        pass
                    except Exception as exc:  # noqa: BLE001 - a lost message shows up here
                        errors.append(repr(exc))

    with connect(None) as conn:
        declare_topology(conn, topology)
    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    publisher = Publisher(topology, url=None)
    try:
        for n in range(total):
            publisher.publish_batch([OutgoingMessage.for_event(str(uuid.uuid4()), "policy.enrolled", {"n": n},
                                                               occurred_at=NOW, correlation_id=None)])
        wait_until(lambda: len(got) >= total or errors, timeout=30, interval=0.05, message="every message")
    finally:
        stop.set()
        thread.join(timeout=10)
        publisher.close()
    assert errors == [] and len(got) == total


def test_the_file_bus_hands_messages_out_in_the_order_they_were_put(tmp_path, monkeypatch):
    """FIFO, as a RabbitMQ queue is: a batch put within a millisecond or two, and messages put as the monotonic
    clock's millisecond count gains a digit (here at 10**9 ms, 11.6 days after boot; first at 10**7 ms, 2 h 47 min
    after it), are taken in the order they were put. Consumers take the files in name order."""
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("PORTAL_AMQP_URL", raising=False)
    fresh_file_bus_memory(monkeypatch)
    monkeypatch.setattr(compat, "_last_stamp", compat._last_stamp)  # the fake clock below does not outlive the test
    topology = load_topology(namespace="")
    publisher = Publisher(topology, url=None)

    def put(numbers):
        messages = [OutgoingMessage.for_event(str(uuid.uuid4()), EVENT, {"n": n}, occurred_at=NOW, correlation_id=None)
                    for n in numbers]
        assert set(publisher.publish_batch(messages).values()) == {None}

    def taken() -> list[int]:
        queue, _dead = service_queues(topology, "policies", False)
        out = []
        with connect(None) as conn:
            bound = queue(conn.channel())
            while (message := bound.get(no_ack=True)) is not None:
                out.append(json.loads(message.body)["n"])
        return out

    try:
        put(range(100))
        assert taken() == list(range(100))
        seconds = iter([999_999.998, 999_999.999, 1_000_000.0, 1_000_000.001])
        clock = next(seconds)
        fake = SimpleNamespace(monotonic=lambda: clock, monotonic_ns=lambda: int(clock * 1e9), time=time.time)
        monkeypatch.setattr(compat, "time", fake)
        for n in range(4):
            put([n])
            clock = next(seconds, clock)
        monkeypatch.setattr(compat, "time", time)
        assert taken() == [0, 1, 2, 3]
    finally:
        publisher.close()


def test_asked_to_stop_while_the_database_is_down_the_worker_stops_and_the_message_waits(tmp_path, monkeypatch):
    """A pod told to stop during a database outage must not wait for the database (Kubernetes would kill it at the
    end of its grace period): it gives the batch back unsettled, and the next worker applies it."""
    first = start_bus(tmp_path, monkeypatch)
    first.database_down = True
    [message_id] = first.send({"n": 7})
    wait_until(lambda: first.calls[message_id] >= 2, 30, message="the worker holding the message, retrying")
    first.stop()
    assert not first.thread.is_alive(), "the worker kept waiting for the database after it was asked to stop"
    assert first.applied() == []

    second = start_bus(tmp_path, monkeypatch)  # the database is back
    try:
        wait_until(lambda: second.applied(message_id), 30, message="the message applied by the next worker")
        assert second.applied() == [7]
    finally:
        second.stop()
