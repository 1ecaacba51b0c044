"""Events through the handlers into PostgreSQL, then the delivery loop over real SMTP and a real HTTP SMS endpoint."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import select, text

from notify.adapters import orm
from notify.bootstrap import bootstrap, build_delivery_loop
from notify.settings import Settings
from portal_common.db import utcnow
from portal_common.testing import apply_event, free_port
from portal_common.testing import deadline_for

pytestmark = pytest.mark.database
CONTRACTS = Path(__file__).resolve().parents[4] / "contracts"


@pytest.fixture
def wiring(pg_url):
    w = bootstrap(pg_url)
    with w.engine.begin() as conn:  # the module shares one database: start each test from empty tables
        conn.execute(text("TRUNCATE deliveries, contacts, outbox, processed_messages"))
    yield w
    w.engine.dispose()


@pytest.fixture
def loop(wiring, smtp_server, sms_server):
    settings = Settings(smtp_url=smtp_server.url, sms_url=sms_server.url, public_url="https://portal.example.hu",
                        insurer_name="Példa Biztosító", teleservice_phone="+36 1 999 8877",
                        retry_base_s=0.05, retry_max_s=0.2, smtp_timeout=5, sms_timeout=5)
    return build_delivery_loop(wiring, settings)


def deliver(wiring, event: str, raw: dict, message_id: str | None = None) -> str:
    """What the worker does with one message: schema load, handler, one transaction."""
    message_id = message_id or str(uuid.uuid4())
    apply_event(wiring.bus, wiring.session_factory, event, raw, message_id=message_id)
    return message_id


def rows(wiring, table=orm.deliveries):
    with wiring.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def drain(loop, until, timeout=10.0):
    deadline = time.monotonic() + deadline_for(timeout)
    while time.monotonic() < deadline:
        loop.run_once()
        if until():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_activation_mail_sent_once_even_when_the_event_is_redelivered(wiring, loop, smtp_server, samples, secrets):
    raw = {**samples["account.activation_requested"], "email": "anna.minta@example.org"}
    message_id = deliver(wiring, "account.activation_requested", raw)
    assert loop.run_once() == 1
    deliver(wiring, "account.activation_requested", raw, message_id=message_id)  # the broker redelivers it
    assert loop.run_once() == 0

    assert smtp_server.envelopes == [("no-reply@portal.example", ["anna.minta@example.org"])]
    [msg] = smtp_server.messages
    assert msg["To"] == "anna.minta@example.org" and msg["Subject"] == "Aktiválja ügyfélportál-fiókját – Példa Biztosító"
    assert msg.get_content_type() == "multipart/alternative" and msg["Message-ID"]
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert secrets["activation_url"] in plain and f'href="{secrets["activation_url"]}"' in html
    assert "spam" in plain and "Promóciók" in html
    [row] = rows(wiring)
    assert (row["status"], row["attempts"]) == ("sent", 1) and row["sent_at"] is not None
    assert secrets["activation_url"] not in row["payload"]  # the link is not kept once sent


def test_initial_password_sms_posts_to_and_text(wiring, loop, sms_server, samples, secrets):
    deliver(wiring, "account.initial_password_issued", samples["account.initial_password_issued"])
    assert loop.run_once() == 1
    [req] = sms_server.requests
    assert req["content_type"] == "application/json" and set(req["body"]) == {"to", "text"}
    assert req["body"]["to"] == "+36301234567" and secrets["initial_password"] in req["body"]["text"]
    assert secrets["initial_password"] not in rows(wiring)[0]["payload"]


def test_sms_rejected_with_400_fails_and_publishes_notification_failed(wiring, loop, sms_server, samples):
    sms_server.script = [400]
    message_id = deliver(wiring, "account.initial_password_issued", samples["account.initial_password_issued"])
    loop.run_once()
    [row] = rows(wiring)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "failed", 1, "SMS gateway rejected the message: HTTP 400")
    [event] = rows(wiring, orm.outbox)
    assert event["event"] == "notification.failed"
    payload = json.loads(event["payload"])
    schema = json.loads((CONTRACTS / "events" / "notification.failed.v1.json").read_text())
    jsonschema.validate(payload, schema, format_checker=jsonschema.FormatChecker())
    assert (payload["cause_event_id"], payload["template"], payload["account_id"], payload["notification_id"]) == (
        message_id, "initial_password", "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", row["id"])
    assert event["correlation_id"] == message_id
    assert len(sms_server.requests) == 1 and loop.run_once() == 0


def test_sms_503_twice_then_200_is_sent_after_retries(wiring, loop, sms_server, samples):
    sms_server.script = [503, 503]
    deliver(wiring, "account.initial_password_issued", samples["account.initial_password_issued"])
    drain(loop, lambda: rows(wiring)[0]["status"] == "sent")
    [row] = rows(wiring)
    assert row["attempts"] == 3 and len(sms_server.requests) == 3 and rows(wiring, orm.outbox) == []


def test_refused_recipient_fails_permanently(wiring, loop, smtp_server, samples):
    smtp_server.refuse = {"gone@example.org"}
    deliver(wiring, "account.locked", {**samples["account.locked"], "email": "gone@example.org"})
    loop.run_once()
    [row] = rows(wiring)
    assert row["status"] == "failed" and row["last_error"] == "recipient g***@example.org refused: SMTP 550"
    assert smtp_server.messages == [] and [e["event"] for e in rows(wiring, orm.outbox)] == ["notification.failed"]


def test_smtp_down_is_retried_then_sent(wiring, smtp_server, sms_server, samples):
    nothing_listens = f"smtp://127.0.0.1:{free_port()}"
    broken = build_delivery_loop(wiring, Settings(smtp_url=nothing_listens, sms_url=sms_server.url,
                                                  retry_base_s=0.5, retry_max_s=0.5))
    deliver(wiring, "account.password_changed", samples["account.password_changed"])
    broken.run_once()
    [row] = rows(wiring)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"] == "SMTP server unreachable: ConnectionRefusedError"
    fixed = build_delivery_loop(wiring, Settings(smtp_url=smtp_server.url, sms_url=sms_server.url))
    drain(fixed, lambda: len(smtp_server.messages) == 1)
    assert rows(wiring)[0]["status"] == "sent" and rows(wiring)[0]["attempts"] == 2


def test_document_mail_to_declaration_address_once_and_skipped_without_one(wiring, loop, smtp_server, samples):
    # Announced before the customer declared: skipped. Announced again after the declaration: sent, once.
    deliver(wiring, "document.available", samples["document.available"])
    deliver(wiring, "customer.declared", samples["customer.declared"])
    deliver(wiring, "document.available", samples["document.available"])
    deliver(wiring, "document.available", samples["document.available"])  # republished with a new message id
    drain(loop, lambda: len(smtp_server.messages) == 2)
    loop.run_once()
    subjects = sorted(str(m["Subject"]) for m in smtp_server.messages)
    assert subjects == ["Nyilatkozatát rögzítettük: dokumentumait elektronikusan kapja",
                        "Új elektronikus dokumentum: Díjértesítő 2026"]
    doc = next(m for m in smtp_server.messages if "dokumentum:" in str(m["Subject"]))
    assert doc["To"] == "anna.docs@example.org"
    assert "https://portal.example.hu/documents" in doc.get_body(("plain",)).get_content()
    assert not any(part.get_content_disposition() == "attachment" for part in doc.walk())
    by_status = sorted((r["template"], r["status"], r["last_error"]) for r in rows(wiring))
    assert by_status == [("declaration_confirmed", "sent", None), ("document_available", "sent", None),
                         ("document_available", "skipped", "no declaration address")]


def test_two_loops_side_by_side_never_send_a_row_twice(wiring, smtp_server, sms_server, samples):
    for i in range(30):
        deliver(wiring, "account.password_changed", {**samples["account.password_changed"],
                                                     "email": f"user{i}@example.org"})
    settings = Settings(smtp_url=smtp_server.url, sms_url=sms_server.url)
    loops = [build_delivery_loop(wiring, settings) for _ in range(3)]
    threads = [threading.Thread(target=lp.run_once) for lp in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    drain(loops[0], lambda: len(smtp_server.messages) >= 30)
    recipients = [to for _, tos in smtp_server.envelopes for to in tos]
    assert sorted(recipients) == sorted(f"user{i}@example.org" for i in range(30))
    assert {r["status"] for r in rows(wiring)} == {"sent"}


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


def _fail_while_down(wiring, loop, clock, tries):
    for _ in range(tries):
        assert loop.run_once() == 1
        [row] = rows(wiring)
        assert row["status"] == "pending" and row["last_error"] == "SMTP server unreachable: ConnectionRefusedError"
        clock.now = row["next_attempt_at"]
    return clock.now


def test_an_smtp_outage_shorter_than_the_horizon_sends_the_message_once_after_recovery(wiring, smtp_server,
                                                                                       sms_server, samples):
    clock = Clock()
    loop = build_delivery_loop(wiring, Settings(smtp_url=smtp_server.url, sms_url=sms_server.url), clock=clock)
    smtp_server.stop()
    deliver(wiring, "account.password_changed", samples["account.password_changed"])
    created = clock.now = rows(wiring)[0]["created_at"]
    assert _fail_while_down(wiring, loop, clock, 12) - created > timedelta(hours=1)  # 12 tries, an hour and more
    smtp_server.start()
    assert loop.run_once() == 1 and loop.run_once() == 0
    clock.now += timedelta(days=2)
    assert loop.run_once() == 0
    assert len(smtp_server.messages) == 1 and smtp_server.envelopes[0][1] == ["anna.minta@example.org"]
    [row] = rows(wiring)
    assert (row["status"], row["attempts"]) == ("sent", 13)
    assert rows(wiring, orm.outbox) == []


def test_an_smtp_outage_past_the_horizon_fails_the_delivery_and_publishes_notification_failed(wiring, smtp_server,
                                                                                             sms_server, samples):
    clock = Clock()
    loop = build_delivery_loop(wiring, Settings(smtp_url=smtp_server.url, sms_url=sms_server.url,
                                                retry_horizon_s=3600), clock=clock)
    smtp_server.stop()
    deliver(wiring, "account.password_changed", samples["account.password_changed"])
    created = clock.now = rows(wiring)[0]["created_at"]
    while rows(wiring)[0]["status"] == "pending":
        assert loop.run_once() == 1
        clock.now = max(clock.now, rows(wiring)[0]["next_attempt_at"])
    smtp_server.start()
    assert loop.run_once() == 0
    [row] = rows(wiring)
    assert row["status"] == "failed" and clock.now == created + timedelta(hours=1)
    assert row["last_error"].startswith(f"gave up after {row['attempts']} attempts over 1 h: SMTP server unreachable")
    assert smtp_server.messages == []
    [failed] = rows(wiring, orm.outbox)
    assert failed["event"] == "notification.failed" and json.loads(failed["payload"])["notification_id"] == row["id"]


def test_housekeeping_deletes_settled_deliveries_after_their_retention_and_never_a_pending_one(wiring, samples):
    from notify.adapters import housekeeping
    from portal_common.housekeeping import Housekeeper

    for i in range(3):
        deliver(wiring, "account.password_changed", {**samples["account.password_changed"],
                                                     "email": f"user{i}@example.org"})
    ids = sorted(r["id"] for r in rows(wiring))
    long_ago = utcnow() - timedelta(days=401)
    with wiring.engine.begin() as conn:
        d = orm.deliveries
        conn.execute(d.update().where(d.c.id == ids[0]).values(status="sent", created_at=long_ago))
        conn.execute(d.update().where(d.c.id == ids[1]).values(created_at=long_ago))  # still pending: owed
    keeper = Housekeeper("notify", wiring.session_factory, housekeeping.rules())
    assert keeper.run_once() == {"deliveries": 1}
    assert sorted(r["id"] for r in rows(wiring)) == ids[1:]
