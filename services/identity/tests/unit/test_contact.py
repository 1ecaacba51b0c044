"""Callback requests and contact changes (e-mail by link, mobile by SMS code, language), with fakes."""
from __future__ import annotations

from datetime import date

import pytest

from identity.domain import commands, errors
from identity.service_layer import contact, handlers
from portal_common.testing import unsealed


def callback(key="k" * 20, ip="10.0.0.9", account_id=None, **kw):
    fields = dict(idempotency_key=key, name="Minta Anna", phone="+36301234567", email="Anna@Example.com",
                  topic="claim", message="Kérdésem van a kárbejelentésről.", preferred_time="morning",
                  language="hu", client_ip=ip, policy_number="KGFB-1001", account_id=account_id)
    fields.update(kw)
    return commands.RequestCallback(**fields)


# ------------------------------------------------------------------------------------------------ callbacks
def test_a_callback_request_is_stored_and_published_with_its_deadline(world):
    # FakeClock starts on Saturday 2026-11-21: the second working day after it is Tuesday 24 November.
    request, created = world.handle(contact.request_callback, callback())
    assert created and request.due_on == date(2026, 11, 24)
    [event] = world.events("customer.callback_requested")
    assert event["request_id"] == request.request_id and event["due_on"] == "2026-11-24"
    assert event["email"] == "anna@example.com" and event["topic"] == "claim" and event["customer_id"] is None
    assert event["working_days"] == 2


def test_the_same_form_submitted_twice_creates_one_request(world):
    first, _ = world.handle(contact.request_callback, callback())
    again, created = world.handle(contact.request_callback, callback(message="changed text"))
    assert not created and again.request_id == first.request_id
    assert len(world.events("customer.callback_requested")) == 1
    assert len(world.repo.callback_requests) == 1


def test_new_requests_are_throttled_per_client_but_a_resubmission_is_not(world):
    for i in range(world.settings.callback_max_per_client):
        world.handle(contact.request_callback, callback(key=f"key-{i:02d}-" + "x" * 16))
    with pytest.raises(errors.Throttled) as caught:
        world.handle(contact.request_callback, callback(key="another-one-" + "y" * 10))
    assert 0 < caught.value.retry_after <= world.settings.callback_window_minutes * 60
    again, created = world.handle(contact.request_callback, callback(key="key-00-" + "x" * 16))
    assert not created and again  # the first form re-sent: still answered
    world.handle(contact.request_callback, callback(key="other-client-" + "z" * 10, ip="10.0.0.10"))
    world.clock.advance(minutes=world.settings.callback_window_minutes + 1)
    world.handle(contact.request_callback, callback(key="later-on-" + "w" * 12))


def test_a_logged_in_customer_s_request_names_the_customer(world):
    account = world.active_account()
    request, _ = world.handle(contact.request_callback, callback(account_id=account.account_id))
    assert request.customer_id == "C-1001"
    assert world.events("customer.callback_requested")[-1]["account_id"] == account.account_id


def test_extra_non_working_days_move_the_deadline(world):
    from dataclasses import replace

    world.wiring.settings = replace(world.settings, extra_non_working_days=(date(2026, 11, 23),))
    request, _ = world.handle(contact.request_callback, callback())
    assert request.due_on == date(2026, 11, 25)


# --------------------------------------------------------------------------------------------- e-mail change
def confirm_url_token(world) -> str:
    return unsealed(world.events("account.email_change_requested")[-1], "confirm_url").rsplit("/", 1)[1]


def test_a_new_email_needs_the_password_and_becomes_active_only_through_the_link(world):
    account = world.active_account()
    with pytest.raises(errors.InvalidFields) as caught:
        world.handle(contact.request_email_change, commands.RequestEmailChange(account.account_id, "wrong",
                                                                               "anna.uj@example.com"))
    assert caught.value.codes == {"password": ["wrong_password"]}
    world.handle(contact.request_email_change, commands.RequestEmailChange(
        account.account_id, "Kezdo-Jelszo-2026", "Anna.Uj@example.com"))
    requested = world.events("account.email_change_requested")[-1]
    assert requested["email"] == "anna.uj@example.com" and requested["current_email"] == "anna@example.com"
    assert world.secrets_of("account.email_change_requested") == ("confirm_url_sealed",)
    assert world.repo.get_account(account.account_id).email == "anna@example.com"  # not yet

    world.handle(contact.confirm_email_change, commands.ConfirmEmailChange(confirm_url_token(world)))
    assert world.repo.get_account(account.account_id).email == "anna.uj@example.com"
    assert world.repo.latest_declaration("C-1001").email == "anna.uj@example.com"  # the declaration follows
    [changed] = world.events("customer.contact_changed")
    assert changed["changed"] == ["email"] and changed["previous_email"] == "anna@example.com"
    assert changed["email"] == changed["declaration_email"] == "anna.uj@example.com"


def test_the_link_works_once_and_a_newer_request_voids_the_older_link(world):
    account = world.active_account()
    world.handle(contact.request_email_change, commands.RequestEmailChange(account.account_id, "Kezdo-Jelszo-2026",
                                                                           "first@example.com"))
    old = confirm_url_token(world)
    world.handle(contact.request_email_change, commands.RequestEmailChange(account.account_id, "Kezdo-Jelszo-2026",
                                                                           "second@example.com"))
    with pytest.raises(errors.TokenInvalid) as caught:
        world.handle(contact.confirm_email_change, commands.ConfirmEmailChange(old))
    assert caught.value.reason == "expired"
    new = confirm_url_token(world)
    world.handle(contact.confirm_email_change, commands.ConfirmEmailChange(new))
    with pytest.raises(errors.TokenInvalid) as caught:
        world.handle(contact.confirm_email_change, commands.ConfirmEmailChange(new))
    assert caught.value.reason == "used"
    assert world.repo.get_account(account.account_id).email == "second@example.com"


def test_the_link_expires(world):
    account = world.active_account()
    world.handle(contact.request_email_change, commands.RequestEmailChange(account.account_id, "Kezdo-Jelszo-2026",
                                                                           "late@example.com"))
    world.clock.advance(hours=world.settings.email_change_ttl_hours, seconds=1)
    with pytest.raises(errors.TokenInvalid):
        world.handle(contact.confirm_email_change, commands.ConfirmEmailChange(confirm_url_token(world)))


def test_recovery_uses_the_new_email_once_changed(world):
    account = world.active_account()
    world.handle(contact.request_email_change, commands.RequestEmailChange(account.account_id, "Kezdo-Jelszo-2026",
                                                                           "anna.uj@example.com"))
    world.handle(contact.confirm_email_change, commands.ConfirmEmailChange(confirm_url_token(world)))
    world.handle(handlers.request_recovery, commands.RequestRecovery("anna@example.com", "+36301234567"))
    assert world.events("account.credentials_reset") == []
    world.handle(handlers.request_recovery, commands.RequestRecovery("anna.uj@example.com", "+36301234567"))
    assert world.events("account.credentials_reset")[-1]["email"] == "anna.uj@example.com"


# --------------------------------------------------------------------------------------------- mobile change
def sms_code(world) -> str:
    return unsealed(world.events("account.mobile_change_requested")[-1], "code")


def test_a_new_mobile_becomes_active_only_with_the_code_sent_to_it(world):
    account = world.active_account()
    world.handle(contact.request_mobile_change, commands.RequestMobileChange(account.account_id, "Kezdo-Jelszo-2026",
                                                                             "+36209876543"))
    requested = world.events("account.mobile_change_requested")[-1]
    code = unsealed(requested, "code")
    assert requested["mobile"] == "+36209876543" and len(code) == 6 and code.isdigit() and "code" not in requested
    assert world.secrets_of("account.mobile_change_requested") == ("code_sealed",)
    wrong = "000000" if sms_code(world) != "000000" else "111111"
    with pytest.raises(errors.InvalidFields) as caught:
        world.handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account.account_id, wrong))
    assert caught.value.codes == {"code": ["wrong_code"]}
    assert world.repo.get_account(account.account_id).mobile == "+36301234567"
    world.handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account.account_id, sms_code(world)))
    assert world.repo.get_account(account.account_id).mobile == "+36209876543"
    [changed] = world.events("customer.contact_changed")
    assert changed["changed"] == ["mobile"] and changed["previous_mobile"] == "+36301234567"
    world.handle(handlers.request_recovery, commands.RequestRecovery("anna@example.com", "+36 20 987 6543"))
    assert world.events("account.credentials_reset")[-1]["mobile"] == "+36209876543"


def test_too_many_wrong_codes_void_the_change(world):
    account = world.active_account()
    world.handle(contact.request_mobile_change, commands.RequestMobileChange(account.account_id, "Kezdo-Jelszo-2026",
                                                                             "+36209876543"))
    right = sms_code(world)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(world.settings.mobile_code_max_attempts - 1):
        with pytest.raises(errors.InvalidFields):
            world.handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account.account_id, wrong))
    with pytest.raises(errors.TokenInvalid):
        world.handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account.account_id, wrong))
    with pytest.raises(errors.TokenInvalid):
        world.handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account.account_id, right))
    assert world.repo.get_account(account.account_id).mobile == "+36301234567"


def test_the_same_number_or_address_is_refused(world):
    account = world.active_account()
    with pytest.raises(errors.InvalidFields) as caught:
        world.handle(contact.request_mobile_change, commands.RequestMobileChange(
            account.account_id, "Kezdo-Jelszo-2026", "+36301234567"))
    assert caught.value.codes == {"mobile": ["same_mobile"]}
    with pytest.raises(errors.InvalidFields) as caught:
        world.handle(contact.request_email_change, commands.RequestEmailChange(
            account.account_id, "Kezdo-Jelszo-2026", "ANNA@example.com"))
    assert caught.value.codes == {"email": ["same_email"]}


# -------------------------------------------------------------------------------------------------- language
def test_the_language_is_stored_with_the_account_and_published_once(world):
    account = world.active_account()
    world.handle(contact.set_language, commands.SetLanguage(account.account_id, "en"))
    world.handle(contact.set_language, commands.SetLanguage(account.account_id, "en"))
    assert world.repo.get_account(account.account_id).language == "en"
    assert world.repo.latest_declaration("C-1001").language == "en"
    [changed] = world.events("customer.contact_changed")
    assert changed["changed"] == ["language"] and changed["language"] == "en"
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, "Kezdo-Jelszo-2026",
                                                                   "Masik-Jelszo-2027"))
    assert world.events("account.password_changed")[-1]["language"] == "en"
