"""Callback confirmations and contact changes: who gets what, and the projection follows the new data."""
from __future__ import annotations

from datetime import datetime, timezone

from notify.adapters.templates import Renderer
from notify.domain import messages
from notify.domain.model import EMAIL, SMS, Contact
from notify.service_layer.delivery import opened
from notify.settings import Settings

NOW = datetime(2026, 11, 21, 11, 0, tzinfo=timezone.utc)


def test_the_callback_confirmation_states_the_deadline_day_in_the_caller_s_language(samples, load):
    for lang, expected in (("hu", "2026. december 8., kedd"), ("en", "Tuesday, 8 December 2026")):
        data = load("customer.callback_requested", {**samples["customer.callback_requested"], "language": lang})
        [planned] = messages.plan("customer.callback_requested", data, None)
        assert (planned.template, planned.channel, planned.to) == ("callback_requested", EMAIL,
                                                                   "anna.minta@example.org")
        out = Renderer(Settings()).render(planned.template, EMAIL, lang, planned.payload)
        assert expected in out.subject and expected in out.text and expected in out.html


def test_the_link_goes_to_the_new_address_and_the_code_to_the_new_number(samples, load):
    [link] = messages.plan("account.email_change_requested",
                           load("account.email_change_requested", samples["account.email_change_requested"]), None)
    assert (link.to, link.template) == ("anna.uj@example.org", "email_change_confirm")
    [code] = messages.plan("account.mobile_change_requested",
                           load("account.mobile_change_requested", samples["account.mobile_change_requested"]), None)
    assert (code.to, code.channel, opened(code.payload, code.account_id)["code"]) == ("+36209876543", SMS, "493027")
    assert "493027" not in str(code.payload)  # kept sealed until the SMS is rendered


def test_the_previous_address_is_told_of_an_email_change_and_a_language_change_sends_nothing(samples, load):
    raw = {**samples["customer.contact_changed"], "changed": ["email"]}
    [notice] = messages.plan("customer.contact_changed", load("customer.contact_changed", raw), None)
    assert (notice.template, notice.to) == ("email_changed_notice", "anna.minta@example.org")
    assert notice.payload["new_email"] == "a***@example.org"  # the old mailbox learns only a masked address
    raw = {**samples["customer.contact_changed"], "changed": ["mobile"]}
    [notice] = messages.plan("customer.contact_changed", load("customer.contact_changed", raw), None)
    assert (notice.template, notice.to) == ("mobile_changed_notice", "anna.uj@example.org")
    raw = {**samples["customer.contact_changed"], "changed": ["language"]}
    assert messages.plan("customer.contact_changed", load("customer.contact_changed", raw), None) == []


def test_the_projection_takes_the_new_data_and_the_declaration_address_follows(samples, load):
    before = Contact("C-1", declaration_email="anna.minta@example.org", account_email="anna.minta@example.org",
                     mobile="+36301234567", language="hu")
    raw = {**samples["customer.contact_changed"], "language": "en"}
    after = messages.project("customer.contact_changed", load("customer.contact_changed", raw), before, NOW)
    assert (after.account_email, after.declaration_email, after.mobile, after.language) == (
        "anna.uj@example.org", "anna.uj@example.org", "+36209876543", "en")
    # no declaration address (back to paper post): a contact change does not invent one
    paper = Contact("C-1", declaration_email=None, account_email="anna.minta@example.org")
    after = messages.project("customer.contact_changed", load("customer.contact_changed", raw), paper, NOW)
    assert after.declaration_email is None and after.account_email == "anna.uj@example.org"


def test_the_expiry_reminder_goes_to_the_declaration_address_once_per_document(samples, load):
    data = load("document.expiring", samples["document.expiring"])
    contact = Contact("C-1", declaration_email="anna.docs@example.org", language="en")
    [planned] = messages.plan("document.expiring", data, contact)
    assert (planned.template, planned.to, planned.language) == ("document_expiring", "anna.docs@example.org", "en")
    assert planned.subject_key == f"expiring:{samples['document.expiring']['document_id']}"
    out = Renderer(Settings()).render(planned.template, EMAIL, "en", planned.payload)
    assert samples["document.expiring"]["title"] in out.subject and "13 months" in out.text
    [paper] = messages.plan("document.expiring", data, Contact("C-1"))
    assert paper.skip_reason == "no declaration address"
