"""Secrets stay between identity and notify (issue 8, item 5), shown on real RabbitMQ and PostgreSQL.

Identity's worker (outbox relay) and notify's worker (consumer, delivery loop, relay) run against their own
migrated databases. A spy queue of our own is bound to EVERY routing key of the portal exchange and to every
dead-letter exchange (the broker's ``portal.dlx`` and each consumer's ``<svc>.dead``). A customer registers,
activates and later asks for new credentials; the activation link, the initial password and the one-time password
reach the customer (notify's e-mail and SMS fakes) — and nowhere else in clear: not in any message body, header or
property on the broker, not in identity's or notify's outbox, not in notify's stored deliveries.
"""
from __future__ import annotations

import json
import re
import threading
from datetime import date
from pathlib import Path

import pika
import pytest

from identity import SERVICE as IDENTITY
from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.bootstrap import bootstrap as identity_bootstrap
from identity.domain import commands
from identity.service_layer import handlers
from notify import SERVICE as NOTIFY
from notify.adapters.mailer import FakeMailer
from notify.adapters.sms import FakeSmsGateway
from notify.bootstrap import bootstrap as notify_bootstrap
from notify.bootstrap import build_delivery_loop
from notify.settings import Settings as NotifySettings
from portal_common import testing
from portal_common.bus import connect, declare_topology
from portal_common.runner import build_worker
from portal_common.testing import wait_until

pytestmark = [pytest.mark.database, pytest.mark.broker]
ROOT = Path(__file__).resolve().parents[2]
IDENT = commands.Identification("KGFB-77", "Titok Tamás", "Titok Tamás", date(1980, 3, 3), "Eger", "Rejtett Rita")
EMAIL, MOBILE = "titok.tamas@example.com", "+36301112233"


@pytest.fixture
def databases():
    with testing.temp_postgres_database("sec_identity") as identity_url, \
            testing.temp_postgres_database("sec_notify") as notify_url:
        testing.migrate(ROOT / "services" / "identity" / "alembic.ini", identity_url)
        testing.migrate(ROOT / "services" / "notify" / "alembic.ini", notify_url)
        yield identity_url, notify_url


class Spy:
    """Our own queue on every routing key, and on every dead-letter exchange (``portal.dlx``, each ``<svc>.dead``)."""

    def __init__(self, amqp_url: str, topology):
        params = pika.URLParameters(amqp_url[:-1] + "%2F" if amqp_url.endswith("//") else amqp_url)
        self.conn = pika.BlockingConnection(params)
        self.ch = self.conn.channel()
        self.queue = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.queue_bind(self.queue, topology.exchange, routing_key="#")
        for service, sq in topology.services.items():  # the broker's dead letters and the consumers' own
            self.ch.queue_bind(self.queue, topology.dead_letter_exchange, routing_key=service)
            self.ch.queue_bind(self.queue, sq.dead_letter_exchange)
        self.seen: list[tuple[str, bytes, str]] = []  # (routing key, body, properties incl. headers as text)

    def drain(self) -> None:
        while True:
            method, props, body = self.ch.basic_get(self.queue, auto_ack=True)
            if method is None:
                return
            self.seen.append((method.routing_key, body, repr(props) + json.dumps(props.headers or {}, default=str)))

    def keys(self) -> set[str]:
        return {key for key, _, _ in self.seen}

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def portal(databases, amqp_url, topology):
    identity_url, notify_url = databases
    with connect(amqp_url) as conn:
        declare_topology(conn, topology)
    spy = Spy(amqp_url, topology)
    identity = identity_bootstrap(identity_url, clock=FakeClock(), hasher=fast_argon2(),
                                  directory=FakePolicyDirectory([(IDENT, Policyholder("C-77", None, None, True))]))
    notify = notify_bootstrap(notify_url)
    mailer, sms = FakeMailer(), FakeSmsGateway()
    delivery = build_delivery_loop(notify, NotifySettings(poll_interval_s=0.05), mailer=mailer, sms=sms)
    loops = [delivery]
    for service, wiring in ((IDENTITY, identity), (NOTIFY, notify)):
        worker, relay, _ = build_worker(service, wiring.bus, wiring.engine, wiring.session_factory, topology=topology,
                                        url=amqp_url)
        loops += [worker, relay]
    threads = [threading.Thread(target=loop.run_forever, daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        yield identity, notify, mailer, sms, spy
    finally:
        for loop in loops:
            loop.stop()
        for thread in threads:
            thread.join(timeout=10)
        spy.close()
        identity.engine.dispose()
        notify.engine.dispose()


def _mail_with(mailer, pattern: str, after: int = 0) -> re.Match:
    for email in mailer.sent[after:]:
        found = re.search(pattern, email.text)
        if found:
            return found
    return None


def test_activation_link_and_passwords_reach_the_customer_and_nothing_else_sees_them(portal):
    identity, notify, mailer, sms, spy = portal
    identity.handle(handlers.register, commands.Register(IDENT, EMAIL, MOBILE, "titok.tamas", "hu", "10.0.0.7",
                                                         accept_declaration=True))
    link = wait_until(lambda: _mail_with(mailer, r"https?://\S+/activate/([A-Za-z0-9_-]+)"),
                      timeout=60, message="the activation e-mail")
    activation_url, token = link.group(0), link.group(1)
    identity.handle(handlers.activate, commands.Activate(token))
    initial = wait_until(lambda: next((m["text"] for m in sms.sent if m["to"] == MOBILE), None),
                         timeout=60, message="the initial-password SMS")
    initial_password = re.search(r"kezdeti jelszava[^:]*: (\S+) ", initial).group(1)
    identity.handle(handlers.login, commands.Login("titok.tamas", initial_password, client_ip="10.0.0.7"))
    mails_before = len(mailer.sent)
    identity.handle(handlers.request_recovery, commands.RequestRecovery(EMAIL, MOBILE, client_ip="10.0.0.7"))
    reset = wait_until(lambda: _mail_with(mailer, r"Egyszer használható jelszó: (\S+)", after=mails_before),
                       timeout=60, message="the reset e-mail")
    one_time_password = reset.group(1)
    identity.handle(handlers.login, commands.Login("titok.tamas", one_time_password, client_ip="10.0.0.7"))
    secrets = {"activation link": activation_url, "activation token": token, "initial password": initial_password,
               "one-time password": one_time_password}

    expected = {"customer.declared", "account.activation_requested", "account.activated",
                "account.initial_password_issued", "account.credentials_reset"}

    def everything_seen():
        spy.drain()
        return expected <= spy.keys()
    wait_until(everything_seen, timeout=60, message=f"the spy to see {sorted(expected)}")
    for key, body, props in spy.seen:
        for what, value in secrets.items():
            assert value.encode() not in body, f"{what} in clear in the body of {key}"
            assert value not in props, f"{what} in clear in the properties/headers of {key}"
    for what, value in secrets.items():
        assert value not in _table_text(identity.engine, "outbox"), f"{what} in identity's outbox"
        assert value not in _table_text(notify.engine, "outbox"), f"{what} in notify's outbox"
        assert value not in _table_text(notify.engine, "deliveries"), f"{what} in notify's deliveries"
    # documents hears account.activated: it carries no password, sealed or not.
    activated = [json.loads(body) for key, body, _ in spy.seen if key == "account.activated"]
    assert activated and not [k for a in activated for k in a if "password" in k]


def _table_text(engine, table: str) -> str:
    from sqlalchemy import text

    with engine.connect() as conn:
        return json.dumps([list(map(str, row)) for row in conn.execute(text(f"SELECT * FROM {table}"))])
