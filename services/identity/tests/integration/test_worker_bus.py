"""The identity worker on real RabbitMQ and PostgreSQL: the outbox relay publishes identity's events (and blanks
their secrets once confirmed); the consumer applies notification.failed and acknowledges policy.upserted."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from kombu import Connection, Queue
from sqlalchemy import text

from identity import SERVICE
from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.bootstrap import bootstrap
from identity.domain import commands
from identity.service_layer import handlers
from portal_common import bus
from portal_common.runner import build_worker
from portal_common.testing import bus_namespace, require_rabbitmq, unsealed
from portal_common.testing import deadline_for

pytestmark = [pytest.mark.database, pytest.mark.broker]
REPO = Path(__file__).resolve().parents[4]
IDENT = commands.Identification("KGFB-9", "Busz Benedek", "Busz Benedek", date(1975, 8, 9), "Sopron", "Sín Szilvia")


def eventually(check, timeout=20.0):
    deadline = time.monotonic() + deadline_for(timeout)
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


@pytest.fixture
def running(database_url):
    url = require_rabbitmq()
    topology = bus.load_topology(namespace=bus_namespace())
    wiring = bootstrap(database_url, directory=FakePolicyDirectory([(IDENT, Policyholder("C-9", None, None, True))]),
                       clock=FakeClock(), hasher=fast_argon2())
    worker, relay, _checks = build_worker(SERVICE, wiring.bus, wiring.engine, wiring.session_factory,
                                          topology=topology, url=url)
    threads = [threading.Thread(target=loop.run_forever, daemon=True) for loop in (worker, relay)]
    for t in threads:
        t.start()
    eventually(lambda: worker.connected)
    yield wiring, topology, url
    worker.stop()
    relay.stop()
    for t in threads:
        t.join(timeout=10)
    with Connection(url) as conn:
        bus.delete_topology(conn, topology)
    wiring.engine.dispose()


def drain(url, queue_name, wanted, timeout=20.0) -> list[tuple[dict, dict]]:
    """Messages (body, headers) from a queue until ``wanted`` event names were seen."""
    seen: list[tuple[dict, dict]] = []
    deadline = time.monotonic() + deadline_for(timeout)
    with Connection(url) as conn:
        simple = conn.SimpleQueue(Queue(queue_name, no_declare=True))
        try:
            while not wanted <= {h.get("event") for _, h in seen} and time.monotonic() < deadline:
                try:
                    message = simple.get(timeout=1)
                except simple.Empty:
                    continue
                seen.append((json.loads(message.body), dict(message.headers)))
                message.ack()
        finally:
            simple.close()
    return seen


def test_identity_events_reach_notify_and_secrets_are_blanked(running):
    wiring, topology, url = running
    account = wiring.handle(handlers.register, commands.Register(IDENT, "benedek@example.com", "+36701234567",
                                                                 "busz.benedek", "hu", "10.0.0.9",
                                                                 accept_declaration=True))
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = 'account.activation_requested'")).scalars()
        [link] = [p for p in map(json.loads, rows) if p["account_id"] == account.account_id]
    wiring.handle(handlers.activate, commands.Activate(unsealed(link, "activation_url").rsplit("/", 1)[1]))

    messages = drain(url, topology.for_service("notify").queue,
                     {"customer.declared", "account.activation_requested", "account.activated",
                      "account.initial_password_issued"})
    by_event = {h["event"]: body for body, h in messages}
    assert by_event["account.activated"]["account_id"] == account.account_id
    assert len(unsealed(by_event["account.initial_password_issued"], "initial_password")) >= 12  # the message carries it …

    def scrubbed():
        with wiring.engine.connect() as conn:
            rows = conn.execute(text("SELECT event, payload FROM outbox WHERE published_at IS NOT NULL")).all()
        payloads = {r.event: json.loads(r.payload) for r in rows
                    if account.account_id in r.payload or r.event == "customer.declared"}
        return payloads if {"account.activation_requested", "account.initial_password_issued"} <= set(payloads) else None

    stored = eventually(scrubbed)  # … the database no longer does
    assert stored["account.initial_password_issued"]["initial_password_sealed"] == "[sent]"
    assert stored["account.activation_requested"]["activation_url_sealed"] == "[sent]"


def test_notification_failed_marks_the_sms_and_policy_upserted_is_acknowledged(running):
    wiring, topology, url = running
    ident = commands.Identification("KGFB-10", "Busz Borbála", "Busz Borbála", date(1977, 1, 1), "Pápa", "Út Ulla")
    wiring.directory.add(ident, Policyholder("C-10", None, None, True))
    account = wiring.handle(handlers.register, commands.Register(ident, "bori@example.com", "+36201234567",
                                                                 "busz.bori", "hu", "10.0.0.9",
                                                                 accept_declaration=True))
    publisher = bus.Publisher(topology, url=url)
    try:
        failed = json.loads((REPO / "contracts/events/examples/notification.failed.v1.json").read_text())
        failed["account_id"] = account.account_id
        upserted = json.loads((REPO / "contracts/events/examples/policy.upserted.v1.json").read_text())
        results = publisher.publish_batch([
            bus.OutgoingMessage.for_event(str(uuid.uuid4()), name, payload, occurred_at="2026-11-21T10:00:00+00:00",
                                          correlation_id=None)
            for name, payload in (("notification.failed", failed), ("policy.upserted", upserted))])
        assert list(results.values()) == [None, None]
    finally:
        publisher.close()

    eventually(lambda: wiring.handle(handlers.get_account, account.account_id).sms_status == "failed")

    def both_processed():
        with wiring.engine.connect() as conn:
            events = set(conn.execute(text("SELECT event FROM processed_messages")).scalars())
        return {"notification.failed", "policy.upserted"} <= events

    eventually(both_processed)
    with Connection(url) as conn:  # nothing was dead-lettered
        _, dead_count, _ = conn.default_channel.queue_declare(topology.for_service(SERVICE).dead_letter_queue,
                                                              passive=True)
    assert dead_count == 0
