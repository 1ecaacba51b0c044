"""Callback requests and contact changes on real PostgreSQL and RabbitMQ: the identity API (Flask test client) writes
the events to its outbox, the worker's relay publishes them, and a raw pika consumer on the CRM's queue (as the
insurer's contact centre would read it) receives each exactly once, even when the form is submitted twice."""
from __future__ import annotations

import json
import threading
from datetime import date

import pika
import pytest
from kombu import Connection
from sqlalchemy import text

from identity import SERVICE
from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.domain import commands
from identity.entrypoints.api import create_app
from identity.service_layer import handlers
from portal_common import bus
from portal_common.runner import build_worker
from portal_common.testing import bus_namespace, caller_headers, require_rabbitmq, unsealed, wait_until

pytestmark = [pytest.mark.database, pytest.mark.broker]
IDENT = commands.Identification("KGFB-77", "Hív Hanna", "Hív Hanna", date(1981, 5, 6), "Győr", "Kér Klára")
TOKEN = caller_headers()


@pytest.fixture
def stack(database_url):
    url = require_rabbitmq()
    topology = bus.load_topology(namespace=bus_namespace())
    app = create_app(database_url, directory=FakePolicyDirectory([(IDENT, Policyholder("C-77", None, None, True))]),
                     clock=FakeClock(), hasher=fast_argon2())
    wiring = app.extensions["identity"]
    worker, relay, _checks = build_worker(SERVICE, wiring.bus, wiring.engine, wiring.session_factory,
                                          topology=topology, url=url)
    threads = [threading.Thread(target=loop.run_forever, daemon=True) for loop in (worker, relay)]
    for t in threads:
        t.start()
    wait_until(lambda: worker.connected, message="identity worker connected")  # it declared the topology
    yield app, wiring, topology, url
    worker.stop()
    relay.stop()
    for t in threads:
        t.join(timeout=10)
    with Connection(url) as conn:
        bus.delete_topology(conn, topology)
    wiring.engine.dispose()


def outbox_published(wiring, event: str) -> int:
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT published_at FROM outbox WHERE event = :e"), {"e": event}).scalars().all()
    return len(rows) if rows and all(rows) else 0


def take_all(url: str, queue: str) -> list[tuple[str, dict]]:
    """A raw pika consumer (no portal code): every message now in the queue, as (routing key, body), acked."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        taken = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                return taken
            assert properties.message_id and properties.content_type == "application/json"
            taken.append((method.routing_key, json.loads(body)))
            channel.basic_ack(method.delivery_tag)
    finally:
        connection.close()


def pika_url(url: str) -> str:
    return url[:-1] + "%2F" if url.endswith("//") else url


def test_a_callback_request_submitted_twice_reaches_the_crm_once(stack):
    app, wiring, topology, url = stack
    form = {"idempotency_key": "crm-once-0123456789ab", "name": "Hív Hanna", "phone": "06 30 111 2222",
            "email": "hanna@example.com", "policy_number": "KGFB-77", "topic": "payment",
            "message": "Mikor esedékes a következő díj?", "preferred_time": "afternoon", "language": "hu"}
    client = app.test_client()
    first = client.post("/internal/callback-requests", json=form, headers=TOKEN)
    again = client.post("/internal/callback-requests", json=form, headers=TOKEN)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["request_id"] == again.json["request_id"] and again.json["created"] is False

    # The relay marks a row published only after the broker confirmed it (routed, persisted): from then on the queue
    # holds everything the CRM will ever get for these two submissions.
    wait_until(lambda: outbox_published(wiring, "customer.callback_requested") == 1, message="relay published")
    received = take_all(pika_url(url), topology.for_service("crm").queue)
    assert [(key, body["request_id"]) for key, body in received] == [
        ("customer.callback_requested", first.json["request_id"])]
    body = received[0][1]
    assert body["phone"] == "+36301112222" and body["due_on"] == first.json["due_on"]


def test_a_confirmed_contact_change_reaches_the_crm_once(stack):
    app, wiring, topology, url = stack
    account = wiring.handle(handlers.register, commands.Register(IDENT, "hanna@example.com", "+36301112222",
                                                                 "hiv.hanna", "hu", "10.0.0.7",
                                                                 accept_declaration=True))
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = 'account.activation_requested'")).scalars()
        [link] = [p for p in map(json.loads, rows) if p.get("account_id") == account.account_id]
    wiring.handle(handlers.activate, commands.Activate(unsealed(link, "activation_url").rsplit("/", 1)[1]))
    password = "Hanna-Jelszava-2026"
    with wiring.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET password_hash = :h, must_change_password = false WHERE account_id = :a"),
                     {"h": wiring.hasher.hash(password), "a": account.account_id})

    client = app.test_client()
    asked = client.post(f"/internal/accounts/{account.account_id}/email-change",
                        json={"password": password, "email": "hanna.uj@example.com"}, headers=TOKEN)
    assert asked.status_code == 202
    with wiring.engine.connect() as conn:
        [row] = conn.execute(text("SELECT payload FROM outbox WHERE event = 'account.email_change_requested'")).scalars()
    token = unsealed(json.loads(row), "confirm_url").rsplit("/", 1)[1]
    assert client.post(f"/internal/email-changes/{token}", headers=TOKEN).status_code == 200
    assert client.post(f"/internal/email-changes/{token}", headers=TOKEN).status_code == 410  # a second click

    wait_until(lambda: outbox_published(wiring, "customer.contact_changed") == 1, message="relay published")
    received = take_all(pika_url(url), topology.for_service("crm").queue)
    assert [key for key, _ in received] == ["customer.contact_changed"]
    body = received[0][1]
    assert (body["email"], body["previous_email"], body["declaration_email"]) == (
        "hanna.uj@example.com", "hanna@example.com", "hanna.uj@example.com")
