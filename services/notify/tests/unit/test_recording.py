"""The consumer side: which deliveries each event records, idempotently, and the contact projection."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from notify.adapters.repository import FakeRepository
from notify.domain.model import BLANKED, EMAIL, FAILED, PENDING, SKIPPED, SMS
from notify.service_layer.recording import record

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def repo():
    return FakeRepository()


@pytest.fixture
def feed(repo, load, new_id):
    def _feed(event: str, raw: dict, message_id: str | None = None):
        return record(event, load(event, raw), message_id=message_id or new_id(), now=NOW, repo=repo)
    return _feed


@pytest.mark.parametrize("event,expected", [
    ("account.activation_requested", [("activation", EMAIL, "anna.minta@example.org")]),
    ("account.activated", []),  # v2: contact data only
    ("account.initial_password_issued", [("initial_password", SMS, "+36301234567")]),
    ("account.locked", [("account_locked", EMAIL, "anna.minta@example.org")]),
    ("account.credentials_reset", [("credentials_reset", EMAIL, "anna.minta@example.org"),
                                   ("reset_notice", SMS, "+36301234567")]),
    ("account.password_changed", [("password_changed", EMAIL, "anna.minta@example.org")]),
    ("account.closed", [("account_closed", EMAIL, "anna.minta@example.org")]),
    ("customer.declared", [("declaration_confirmed", EMAIL, "anna.docs@example.org")]),
    ("customer.declaration_withdrawn", [("declaration_withdrawn", EMAIL, "anna.docs@example.org")]),
])
def test_each_account_and_customer_event_records_its_messages(feed, samples, event, expected):
    added = feed(event, samples[event])
    assert [(d.template, d.channel, d.to) for d in added] == expected
    assert all(d.status == PENDING and d.language == "hu" and d.attempts == 0 for d in added)


def test_a_redelivered_event_records_nothing_more(feed, repo, samples):
    first = feed("account.credentials_reset", samples["account.credentials_reset"], message_id="m-1")
    again = feed("account.credentials_reset", samples["account.credentials_reset"], message_id="m-1")
    assert len(first) == 2 and again == [] and len(repo.deliveries) == 2


def test_the_reset_sms_payload_holds_no_password(feed, samples, secrets):
    sms = [d for d in feed("account.credentials_reset", samples["account.credentials_reset"]) if d.channel == SMS]
    assert secrets["one_time_password"] not in repr(sms[0].payload)


def test_document_mail_goes_to_the_declaration_address_once_per_document(feed, repo, samples):
    feed("customer.declared", samples["customer.declared"])
    first = feed("document.available", samples["document.available"])
    # The documents service publishing the same document again (a new message id) sends no second e-mail.
    again = feed("document.available", samples["document.available"])
    assert [(d.to, d.status, d.language) for d in first] == [("anna.docs@example.org", PENDING, "hu")]
    assert again == [] and len(repo.by_template("document_available")) == 1


def test_document_without_declaration_is_skipped_not_an_error(feed, repo, samples):
    feed("account.activated", samples["account.activated"])  # an account e-mail is not a declaration address
    added = feed("document.available", samples["document.available"])
    assert [(d.status, d.last_error, d.to) for d in added] == [(SKIPPED, "no declaration address", None)]
    assert repo.events == []


def test_after_withdrawal_documents_are_no_longer_mailed(feed, samples):
    feed("customer.declared", samples["customer.declared"])
    feed("customer.declaration_withdrawn", samples["customer.declaration_withdrawn"])
    assert feed("document.available", samples["document.available"])[0].status == SKIPPED


def test_an_older_declaration_never_overrides_a_newer_withdrawal(feed, samples):
    feed("customer.declaration_withdrawn", samples["customer.declaration_withdrawn"])
    feed("customer.declared", samples["customer.declared"])  # declared_at is before withdrawn_at: arrived late
    assert feed("document.available", samples["document.available"])[0].status == SKIPPED


def test_projection_language_follows_the_customer(feed, samples):
    feed("customer.declared", {**samples["customer.declared"], "language": "en"})
    assert feed("document.available", samples["document.available"])[0].language == "en"


def test_enrolment_goes_to_declaration_else_account_address(feed, repo, samples):
    feed("account.activated", samples["account.activated"])
    assert feed("policy.enrolled", samples["policy.enrolled"])[0].to == "anna.minta@example.org"
    feed("customer.declared", samples["customer.declared"])
    assert feed("policy.enrolled", samples["policy.enrolled"])[0].to == "anna.docs@example.org"
    unknown = feed("policy.enrolled", {**samples["policy.enrolled"], "customer_id": "C-unknown"})
    assert unknown[0].status == SKIPPED


def test_activation_without_mobile_fails_at_once_and_tells_identity(feed, repo, samples, secrets):
    added = feed("account.initial_password_issued", {**samples["account.initial_password_issued"], "mobile": None})
    assert [(d.status, d.last_error) for d in added] == [(FAILED, "no mobile number in the event")]
    assert added[0].payload["initial_password_sealed"] == BLANKED
    assert [(name, p["template"], p["account_id"], p["channel"]) for name, p in repo.events] == [
        ("notification.failed", "initial_password", "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", SMS)]


def test_invalid_mobile_fails_at_once(feed, samples):
    added = feed("account.initial_password_issued", {**samples["account.initial_password_issued"], "mobile": "12ab"})
    assert (added[0].status, added[0].last_error) == (FAILED, "invalid mobile number")


def test_closing_the_account_forgets_its_contact_data(feed, repo, samples):
    feed("account.activated", samples["account.activated"])
    feed("account.closed", samples["account.closed"])
    contact = repo.get_contact("C-1")
    assert (contact.account_email, contact.mobile) == (None, None) and contact.closed_at is not None
    assert feed("policy.enrolled", samples["policy.enrolled"])[0].status == SKIPPED


def test_a_skipped_document_can_still_be_mailed_once_the_customer_declares(feed, repo, samples):
    assert feed("document.available", samples["document.available"])[0].status == SKIPPED
    feed("customer.declared", samples["customer.declared"])
    assert [d.status for d in feed("document.available", samples["document.available"])] == [PENDING]
    assert feed("document.available", samples["document.available"]) == []


@pytest.mark.parametrize("order", ["closed first", "withdrawn first"])
def test_after_closing_and_withdrawing_new_documents_are_skipped(feed, repo, samples, order):
    """identity withdraws the declaration when the registration is closed: account.closed and
    customer.declaration_withdrawn both arrive (in either order), and no new-document e-mail goes out after them."""
    feed("customer.declared", samples["customer.declared"])
    feed("account.activated", samples["account.activated"])
    assert [d.status for d in feed("document.available", samples["document.available"])] == [PENDING]
    closed = {**samples["account.closed"], "closed_at": "2026-11-21T12:00:00+00:00"}
    withdrawn = {**samples["customer.declaration_withdrawn"], "withdrawn_at": "2026-11-21T12:00:00+00:00"}
    steps = [("account.closed", closed), ("customer.declaration_withdrawn", withdrawn)]
    for event, payload in steps if order == "closed first" else reversed(steps):
        feed(event, payload)
    later = {**samples["document.available"], "document_id": "9a1b2c3d-0000-4000-8000-000000000001",
             "title": "Díjértesítő 2027"}
    added = feed("document.available", later)
    assert [(d.status, d.last_error, d.to) for d in added] == [(SKIPPED, "no declaration address", None)]
    contact = repo.get_contact("C-1")
    assert (contact.declaration_email, contact.account_email, contact.mobile) == (None, None, None)
    assert [d.status for d in repo.by_template("document_available")] == [PENDING, SKIPPED]


def test_the_validity_in_hours_is_recorded_from_the_events_occurred_time(repo, load, samples):
    data = load("account.activation_requested", samples["account.activation_requested"])  # expires 2026-11-22 10:00Z
    sent = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
    [d] = record("account.activation_requested", data, message_id="m-a", now=NOW, repo=repo, occurred_at=sent)
    assert d.payload["valid_hours"] == 6
    [d] = record("account.activation_requested", data, message_id="m-b", now=NOW, repo=repo)  # no header: now
    assert d.payload["valid_hours"] == 24


def test_the_worker_handler_reads_the_occurred_at_header(monkeypatch, samples):
    """The consumer decodes the delivery (portal_common.delivery) and the route's handler passes the header on."""
    import json
    from types import SimpleNamespace

    from notify import bootstrap
    from portal_common.delivery import Limits, decode, identify

    seen = {}
    monkeypatch.setattr(bootstrap.recording, "record", lambda *a, **kw: seen.update(kw))
    event = "account.activation_requested"
    body = json.dumps(samples[event]).encode()
    for header, expected in [("2026-11-21T10:00:00+00:00", datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)),
                             (None, None), ("not a time", None), ("2026-11-21T10:00:00", None)]:
        headers = {"version": bootstrap.EVENTS[event].versions[-1], **({"occurred_at": header} if header else {})}
        raw = SimpleNamespace(body=body, headers=headers,
                              properties={"message_id": "m-1"}, delivery_info={"routing_key": event},
                              content_type="application/json", content_encoding="utf-8")
        message, fields = decode(raw, identify(raw), bootstrap.EVENTS, Limits())
        route = bootstrap.EVENTS[event]
        bootstrap.bootstrap("sqlite://").bus.handle(route.handler, route.command(**fields), uow=SimpleNamespace(
            repo=None), message=message)
        assert seen["occurred_at"] == expected
