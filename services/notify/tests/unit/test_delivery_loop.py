"""The sending side with fake adapters: sent once, retried with back-off, failed for good, logged without secrets."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from structlog.testing import capture_logs

from notify.adapters.mailer import FakeMailer
from notify.adapters.repository import FakeRepository, FakeStore
from notify.adapters.sms import FakeSmsGateway
from notify.adapters.templates import Renderer
from notify.domain.model import (BLANKED, FAILED, PENDING, SENT, PermanentDeliveryError, TransientDeliveryError)
from notify.service_layer.delivery import DeliveryLoop
from notify.service_layer.recording import record
from notify.settings import Settings

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


@pytest.fixture
def env(load, new_id):
    class Env:
        repo = FakeRepository()
        mailer = FakeMailer()
        sms = FakeSmsGateway()
        clock = Clock()
        settings = Settings(retry_horizon_s=24 * 3600, retry_base_s=10, retry_max_s=3600)
        loop = DeliveryLoop(FakeStore(repo), mailer, sms, Renderer(settings), settings, clock=clock)

        def feed(self, event, raw, message_id=None):
            return record(event, load(event, raw), message_id=message_id or new_id(), now=self.clock(),
                          repo=self.repo)

        def row(self, delivery):
            return self.repo.deliveries[delivery.id]
    return Env()


def test_sends_each_recorded_message_once_and_forgets_the_secret(env, samples, secrets):
    [d] = env.feed("account.activation_requested", samples["account.activation_requested"])
    assert env.loop.run_once() == 1 and env.loop.run_once() == 0
    [mail] = env.mailer.sent
    assert mail.to == "anna.minta@example.org" and secrets["activation_url"] in mail.text
    assert mail.message_id == f"<{d.id}@portal.example>"
    row = env.row(d)
    assert (row.status, row.attempts, row.sent_at) == (SENT, 1, T0)
    assert row.payload["activation_url_sealed"] == BLANKED and secrets["activation_url"] not in json.dumps(row.payload)


def test_sms_goes_to_the_number_of_the_event(env, samples, secrets):
    env.feed("account.initial_password_issued", {**samples["account.initial_password_issued"],
                                                 "mobile": "+36301234567"})
    env.loop.run_once()
    assert env.sms.sent == [{"to": "+36301234567", "text": env.sms.sent[0]["text"]}]
    assert secrets["initial_password"] in env.sms.sent[0]["text"]


def test_transient_failures_are_retried_with_exponential_backoff(env, samples):
    [d] = env.feed("account.locked", samples["account.locked"])
    env.mailer.fail_with = [TransientDeliveryError("SMTP 451 for a***@example.org: try later")] * 2
    env.loop.run_once()
    assert (env.row(d).status, env.row(d).attempts, env.row(d).next_attempt_at) == (PENDING, 1, T0 + timedelta(seconds=10))
    assert env.loop.run_once() == 0  # not due yet
    env.clock.now = T0 + timedelta(seconds=10)
    env.loop.run_once()
    assert (env.row(d).attempts, env.row(d).next_attempt_at) == (2, env.clock.now + timedelta(seconds=20))
    env.clock.now += timedelta(seconds=20)
    env.loop.run_once()
    assert (env.row(d).status, env.row(d).attempts, len(env.mailer.sent)) == (SENT, 3, 1)
    assert env.repo.events == []


def test_permanent_failure_fails_at_once_and_publishes_notification_failed(env, samples, secrets):
    [d] = env.feed("account.initial_password_issued", samples["account.initial_password_issued"])
    env.sms.fail_with = [PermanentDeliveryError("SMS gateway rejected the message: HTTP 400")]
    env.loop.run_once()
    row = env.row(d)
    assert (row.status, row.attempts, row.last_error) == (FAILED, 1, "SMS gateway rejected the message: HTTP 400")
    assert row.payload["initial_password_sealed"] == BLANKED
    [(name, payload)] = env.repo.events
    assert name == "notification.failed"
    assert {k: payload[k] for k in ("notification_id", "cause_event", "channel", "template", "account_id",
                                    "customer_id")} == {
        "notification_id": d.id, "cause_event": "account.initial_password_issued", "channel": "sms",
        "template": "initial_password", "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1"}
    assert env.loop.run_once() == 0


def _outage(env, until):
    """The SMTP server refuses every connection until the clock reaches ``until``; the loop runs whenever a row is
    due (as the worker's loop would). Returns the times of the tries."""
    tries = []

    class Down(FakeMailer):
        def send(self, email):
            tries.append(env.clock.now)
            if env.clock.now < until:
                raise TransientDeliveryError("SMTP server unreachable: ConnectionRefusedError")
            super().send(email)
    env.loop.mailer = env.mailer = Down()
    return tries


def _run_until_settled(env, d, limit=timedelta(days=3)):
    while env.row(d).status == PENDING and env.clock.now < T0 + limit:
        env.loop.run_once()
        env.clock.now = max(env.clock.now, env.row(d).next_attempt_at)


def test_an_outage_shorter_than_the_horizon_loses_nothing_and_sends_once_after_recovery(env, samples):
    [d] = env.feed("account.password_changed", samples["account.password_changed"])
    back_at = T0 + timedelta(hours=23)
    tries = _outage(env, back_at)
    _run_until_settled(env, d)
    row = env.row(d)
    assert (row.status, len(env.mailer.sent), env.repo.events) == (SENT, 1, [])
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert gaps[:4] == [timedelta(seconds=s) for s in (10, 20, 40, 80)]  # growing …
    assert max(gaps) == timedelta(hours=1)                                 # … up to the cap
    assert back_at <= row.sent_at <= back_at + timedelta(hours=1)          # sent within one capped delay of recovery


def test_an_sms_gateway_outage_shorter_than_the_horizon_loses_nothing_and_sends_once(env, samples, secrets):
    [d] = env.feed("account.initial_password_issued", samples["account.initial_password_issued"])
    back_at = T0 + timedelta(hours=20)
    tries = []

    class Down(FakeSmsGateway):
        def send(self, to, text):
            tries.append(env.clock.now)
            if env.clock.now < back_at:
                raise TransientDeliveryError("SMS gateway unreachable: ConnectionError")
            super().send(to, text)
    env.loop.sms = env.sms = Down()
    _run_until_settled(env, d)
    row = env.row(d)
    assert (row.status, len(env.sms.sent), env.repo.events) == (SENT, 1, [])
    assert len(tries) > 5 and back_at <= row.sent_at <= back_at + timedelta(hours=1)
    assert secrets["initial_password"] in env.sms.sent[0]["text"]  # the message itself, once, after recovery


def test_past_the_horizon_the_delivery_fails_and_notification_failed_is_published(env, samples):
    [d] = env.feed("account.password_changed", samples["account.password_changed"])
    tries = _outage(env, T0 + timedelta(days=30))
    _run_until_settled(env, d)
    row = env.row(d)
    assert tries[-1] == T0 + timedelta(hours=24)  # the last try exactly at the horizon, none after it
    assert (row.status, row.attempts, env.mailer.sent) == (FAILED, len(tries), [])
    assert row.last_error.startswith(f"gave up after {len(tries)} attempts over 24 h: SMTP server unreachable")
    [(name, payload)] = env.repo.events
    assert (name, payload["notification_id"]) == ("notification.failed", d.id)


def test_the_horizon_is_configurable(env, samples, monkeypatch):
    monkeypatch.setenv("PORTAL_NOTIFY_RETRY_HORIZON_HOURS", "2")
    monkeypatch.setenv("PORTAL_NOTIFY_RETRY_MAX_S", "300")
    settings = Settings.from_env()
    assert (settings.retry_horizon_s, settings.retry_max_s) == (7200, 300)
    env.loop.settings = settings
    [d] = env.feed("account.password_changed", samples["account.password_changed"])
    tries = _outage(env, T0 + timedelta(days=1))
    _run_until_settled(env, d)
    assert env.row(d).status == FAILED and tries[-1] == T0 + timedelta(hours=2)
    assert max(b - a for a, b in zip(tries, tries[1:])) == timedelta(seconds=300)


def test_an_unexpected_error_is_retried_without_quoting_it(env, samples, secrets):
    d, _sms = env.feed("account.credentials_reset", samples["account.credentials_reset"])
    env.mailer.fail_with = [RuntimeError(f"boom {secrets['one_time_password']}")]
    env.loop.run_once()
    assert env.row(d).last_error == "unexpected error: RuntimeError"


def test_delivery_logs_say_what_whom_and_outcome_but_never_a_secret(env, samples, secrets):
    with capture_logs() as logs:
        for event in ("account.activation_requested", "account.initial_password_issued", "account.credentials_reset"):
            env.feed(event, samples[event])
        env.sms.fail_with = [TransientDeliveryError("SMS gateway answered HTTP 503")]
        env.loop.run_once()
        env.clock.now += timedelta(hours=1)
        env.loop.run_once()
    text = json.dumps(logs, default=str)
    for secret in secrets.values():
        assert secret not in text
    assert "anna.minta@example.org" not in text and "+36301234567" not in text
    sent = [e for e in logs if e["event"] == "delivery_sent"]
    assert {(e["template"], e["to"]) for e in sent} == {
        ("activation", "a***@example.org"), ("credentials_reset", "a***@example.org"),
        ("initial_password", "+3630***4567"), ("reset_notice", "+3630***4567")}
    assert all("sent_at" in e for e in sent)
    assert [e["to"] for e in logs if e["event"] == "delivery_retry"] == ["+3630***4567"]
    assert {e["template"] for e in logs if e["event"] == "delivery_recorded"} >= {"activation", "initial_password"}


def test_a_sent_document_announcement_is_published_for_the_delivery_record(env, samples):
    env.feed("customer.declared", samples["customer.declared"])
    env.loop.run_once()
    [d] = env.feed("document.available", samples["document.available"])
    env.clock.now = T0 + timedelta(minutes=3)
    env.loop.run_once()
    announced = [payload for name, payload in env.repo.events if name == "document.announced"]
    assert announced == [{"document_id": samples["document.available"]["document_id"], "customer_id": "C-1",
                          "notification_id": d.id, "channel": "email", "sent_at": (T0 + timedelta(minutes=3)).isoformat()}]


def test_a_secret_that_does_not_open_is_never_sent_and_is_reported(env, samples, secrets):
    """Sealed for another account (a forged or swapped event), tampered, or under an unknown key id."""
    from portal_common.sealing import default_sealer

    good = samples["account.initial_password_issued"]["initial_password_sealed"]
    kid, token = good.split(":", 1)
    forged = [default_sealer().seal(secrets["initial_password"], "another-account"),
              f"{kid}:{token[:-4]}AAAA", f"k9:{token}", secrets["initial_password"]]
    for value in forged:
        [d] = env.feed("account.initial_password_issued",
                       {**samples["account.initial_password_issued"], "initial_password_sealed": value})
        env.loop.run_once()
        row = env.row(d)
        assert row.status == FAILED and row.last_error.startswith("secret could not be opened"), value
        assert secrets["initial_password"] not in row.last_error
    assert env.sms.sent == []
    assert [name for name, _ in env.repo.events] == ["notification.failed"] * len(forged)
