"""Each invalid field shows its message in red under the field, linked with aria-describedby; other values kept,
never passwords; nothing is sent to a service while any field is invalid; the API's field errors land under the
matching field in the current language."""
from __future__ import annotations

import re

from gateway.clients.http import ActivationPending, AlreadyRegistered, InvalidFields, Throttled

from .conftest import field_error, input_tag, login, text

REGISTRATION = {
    "policy_number": "HOME-2", "name": "Minta Anna", "birth_name": "Minta Anna", "birth_date": "1985-04-12",
    "birth_place": "Szeged", "mother_name": "Példa Mária", "email": "anna@example.com",
    "mobile": "06 30 123 4567", "username": "anna2", "accept_declaration": "y",
}


def test_each_missing_field_gets_its_own_message_under_it_and_nothing_is_sent(client, fakes):
    html = text(client.post("/register", data={"name": "Minta Anna"}))
    expected = {
        "policy_number": "Kérjük, adja meg a kötvényszámot.",
        "birth_name": "Kérjük, adja meg a születési nevét.",
        "birth_date": "Kérjük, adja meg a születési dátumát (év, hónap, nap).",
        "email": "Kérjük, adja meg az e-mail-címét.",
        "mobile": "Kérjük, adja meg a mobiltelefonszámát.",
        "username": "Kérjük, válasszon felhasználónevet.",
        "accept_declaration": "A regisztrációhoz kérjük, jelölje be ezt a négyzetet: az Ügyfélportál az "
                              "elektronikus dokumentumküldés kérésével használható.",
    }
    for name, message in expected.items():
        assert field_error(html, name) == message
        tag = input_tag(html, name)
        assert f"{name}-error" in re.search(r'aria-describedby="([^"]+)"', tag).group(1)
        assert 'aria-invalid="true"' in tag
        # the message comes right after its own input (under the field)
        assert html.index(f'id="{name}-error"') > html.index(f'id="{name}"')
    assert field_error(html, "name") is None
    assert 'value="Minta Anna"' in input_tag(html, "name")  # what was valid is kept
    assert not [c for c in fakes.identity.calls if c[0] == "register"]


def test_format_errors_and_kept_values(client, fakes):
    data = {**REGISTRATION, "email": "not-an-address", "mobile": "12345", "birth_date": "2999-01-01"}
    html = text(client.post("/register", data=data))
    assert field_error(html, "birth_date") == "Kérjük, valós születési dátumot adjon meg."
    assert 'value="Példa Mária"' in input_tag(html, "mother_name")
    assert 'value="not-an-address"' in input_tag(html, "email")
    assert 'type="date"' in input_tag(html, "birth_date")
    assert not [c for c in fakes.identity.calls if c[0] == "register"]


def test_a_birth_date_may_be_today_in_budapest_whatever_the_servers_time_zone(client, fakes):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import time_machine

    # the server's clock in Los Angeles: 5 December 23:30 there is 6 December 08:30 in Budapest
    with time_machine.travel(datetime(2026, 12, 5, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles")), tick=False):
        html = text(client.post("/register", data={**REGISTRATION, "birth_date": "2026-12-06"}))
    assert field_error(html, "birth_date") is None
    # ... and at Kiritimati: 6 December 05:00 there is still 5 December 16:00 in Budapest, so the 6th is tomorrow
    with time_machine.travel(datetime(2026, 12, 6, 5, 0, tzinfo=ZoneInfo("Pacific/Kiritimati")), tick=False):
        html = text(client.post("/register", data={**REGISTRATION, "birth_date": "2026-12-06"}))
    assert field_error(html, "birth_date") == "Kérjük, valós születési dátumot adjon meg."


# identity's field rules, as identity words them (services/identity/.../domain/messages.py): the gateway checks
# presence only and shows these under the fields
IDENTITY_FIELD_ERRORS = {
    "email": [{"code": "invalid_email", "message_hu": "Érvénytelen e-mail-cím.", "message_en": "Invalid e-mail address."}],
    "mobile": [{"code": "invalid_mobile", "message_hu": "Adjon meg magyar mobilszámot.",
                "message_en": "Enter a Hungarian mobile number."}],
    "username": [{"code": "username_chars", "message_hu": "Csak ékezet nélküli betűk.",
                  "message_en": "Only letters without accents."}],
}


def test_identitys_field_rules_land_under_the_fields_in_both_languages(client, fakes):
    data = {**REGISTRATION, "email": "not-an-address", "mobile": "12345", "username": "Árvíztűrő"}
    for lang, key in (("hu", "message_hu"), ("en", "message_en")):
        fakes.identity.fail["register"] = InvalidFields("identity", 422, {"error": "invalid",
                                                                          "fields": IDENTITY_FIELD_ERRORS})
        html = text(client.post(f"/register?lang={lang}", data=data))
        for name, [error] in IDENTITY_FIELD_ERRORS.items():
            assert field_error(html, name) == error[key], name
        assert 'value="not-an-address"' in input_tag(html, "email")
    sent = [c for c in fakes.identity.calls if c[0] == "register"][-1][1]
    assert (sent["email"], sent["mobile"], sent["username"]) == ("not-an-address", "12345", "Árvíztűrő")


def test_forgotten_and_resend_show_identitys_format_errors(client, fakes):
    fakes.identity.fail["recover"] = InvalidFields("identity", 422, {"error": "invalid", "fields": {
        "mobile": IDENTITY_FIELD_ERRORS["mobile"]}})
    html = text(client.post("/forgotten", data={"email": "anna@example.com", "mobile": "12345"}))
    assert field_error(html, "mobile") == "Adjon meg magyar mobilszámot."
    fakes.identity.fail["resend_activation"] = InvalidFields("identity", 422, {"error": "invalid", "fields": {
        "email": IDENTITY_FIELD_ERRORS["email"]}})
    response = client.post("/register/resend", data={"email": "nope"})
    assert response.status_code == 422 and field_error(text(response), "email") == "Érvénytelen e-mail-cím."


def test_registration_sends_what_was_typed_and_shows_mailbox_page(client, fakes):
    response = client.post("/register", data=REGISTRATION)
    assert response.headers["Location"].endswith("/register/sent")
    sent = [c for c in fakes.identity.calls if c[0] == "register"][0][1]
    # identity normalises the number (one normalisation in the whole portal)
    assert sent["mobile"] == "06 30 123 4567" and sent["birth_date"] == "1985-04-12" and sent["language"] == "hu"
    html = text(client.get("/register/sent"))
    assert "anna@example.com" in html and "spam" in html and "Promóciók" in html
    assert 'action="/register/resend"' in html


def test_api_field_error_lands_under_the_field_in_the_current_language(client, fakes):
    taken = {**REGISTRATION, "username": "anna"}  # another customer's username
    for lang, message in (("hu", "Ez a felhasználónév már foglalt."), ("en", "This username is already taken.")):
        fakes.identity.fail["register"] = InvalidFields("identity", 422, {"error": "invalid", "fields": {"username": [
            {"code": "username_taken", "message_hu": "Ez a felhasználónév már foglalt.",
             "message_en": "This username is already taken."}]}})
        html = text(client.post(f"/register?lang={lang}", data=taken))
        assert field_error(html, "username") == message


def test_identification_failure_says_nothing_specific_and_keeps_values(client, fakes):
    html = text(client.post("/register", data={**REGISTRATION, "mother_name": "Más Valaki"}))
    assert "nem sikerült azonosítani" in html and "+36 1 555 0100" in html
    assert 'value="Más Valaki"' in input_tag(html, "mother_name")
    for name in REGISTRATION:
        assert field_error(html, name) is None  # never says which item failed


def test_throttled_registration_tells_how_long_to_wait(client, fakes):
    fakes.identity.fail["register"] = Throttled("identity", 429, {"error": "throttled", "retry_after": 600})
    html = text(client.post("/register", data=REGISTRATION))
    assert "várjon 10 percet" in html


def test_login_keeps_username_but_never_the_password(client):
    html = text(client.post("/login", data={"username": "anna", "password": "wrong password 1"}))
    assert "Hibás felhasználónév vagy jelszó." in html
    assert 'value="anna"' in input_tag(html, "username")
    password = input_tag(html, "password")
    assert "wrong password 1" not in html and re.search(r'value="[^"]', password) is None


def test_login_required_fields(client):
    html = text(client.post("/login", data={}))
    assert field_error(html, "username") == "Kérjük, adja meg a felhasználónevét."
    assert field_error(html, "password") == "Kérjük, adja meg a jelszavát."


def test_change_password_checks_the_repetition_and_shows_identitys_policy(logged_in, fakes):
    html = text(logged_in.post("/account/password", data={
        "current_password": "correct horse battery", "new_password": "short", "new_password_confirm": "other"}))
    assert field_error(html, "new_password_confirm") == "A két új jelszó nem egyezik."
    assert "correct horse battery" not in html
    assert not [c for c in fakes.identity.calls if c[0] == "change_password"]
    html = text(logged_in.post("/account/password", data={
        "current_password": "not my password", "new_password": "a brand new sentence",
        "new_password_confirm": "a brand new sentence"}))
    assert field_error(html, "current_password") == "A jelenlegi jelszó nem megfelelő."
    fakes.identity.fail["change_password"] = InvalidFields("identity", 422, {"error": "invalid", "fields": {
        "new_password": [{"code": "too_short", "message_hu": "A jelszó legalább 12 karakter legyen.",
                          "message_en": "The password must be at least 12 characters long."},
                         {"code": "contains_username", "message_hu": "Nem tartalmazhatja a felhasználónevet.",
                          "message_en": "It must not contain the username."}]}})
    html = text(logged_in.post("/account/password", data={
        "current_password": "x", "new_password": "anna", "new_password_confirm": "anna"}))
    assert field_error(html, "new_password") == ("A jelszó legalább 12 karakter legyen. "
                                                 "Nem tartalmazhatja a felhasználónevet.")


def test_change_password_keeps_this_session_and_ends_the_others(logged_in, fakes):
    other = fakes.identity.login("anna", "correct horse battery")["session_id"]  # e.g. another browser
    with logged_in.session_transaction() as s:
        mine = s["sid"]
    response = logged_in.post("/account/password", data={
        "current_password": "correct horse battery", "new_password": "a brand new sentence",
        "new_password_confirm": "a brand new sentence"})
    assert response.headers["Location"].endswith("/home")
    assert ("change_password", "A-1") in fakes.identity.calls
    assert mine in fakes.identity.sessions and other not in fakes.identity.sessions
    assert "Új jelszavát elmentettük" in text(logged_in.get("/home"))


def test_declaration_needs_the_tick_and_reports_existing_declaration(client, fakes):
    data = {k: v for k, v in REGISTRATION.items() if k not in ("mobile", "username")}
    html = text(client.post("/declaration", data=data))
    assert field_error(html, "accept") == "A nyilatkozat megtételéhez kérjük, jelölje be ezt a négyzetet."
    assert client.post("/declaration", data={**data, "accept": "y"}).headers["Location"].endswith("/declaration/done")
    html = text(client.post("/declaration", data={**data, "accept": "y"}))
    assert "már van érvényes nyilatkozata" in html


def test_close_account_wrong_password_under_field(logged_in, fakes):
    html = text(logged_in.post("/account/close", data={"password": "nope"}))
    assert field_error(html, "password") == "A jelszó nem megfelelő."
    response = logged_in.post("/account/close", data={"password": "correct horse battery"})
    assert response.headers["Location"].endswith("/account/closed")
    assert logged_in.get("/home").status_code == 302
    assert login(logged_in).status_code == 200  # closed: cannot log in any more


def test_unknown_remote_field_goes_to_the_summary(logged_in, fakes):
    fakes.identity.fail["change_password"] = InvalidFields("identity", 422, {"error": "invalid", "fields": {
        "something": [{"code": "x", "message_hu": "Valami baj van.", "message_en": "Something is wrong."}]}})
    html = text(logged_in.post("/account/password", data={
        "current_password": "correct horse battery", "new_password": "a brand new sentence",
        "new_password_confirm": "a brand new sentence"}))
    assert "Valami baj van." in html


# Registration includes the declaration on electronic communication --------------------------------------------------
def test_registration_needs_the_declaration_tick_and_sends_it(client, fakes):
    data = {k: v for k, v in REGISTRATION.items() if k != "accept_declaration"}
    html = text(client.post("/register", data=data))
    assert "jelölje be ezt a négyzetet" in field_error(html, "accept_declaration")
    tag = input_tag(html, "accept_declaration")
    assert 'type="checkbox"' in tag and "accept_declaration-error" in tag
    assert not [c for c in fakes.identity.calls if c[0] == "register"]
    html = text(client.post("/register?lang=en", data=data))
    assert "To register, please tick this box" in field_error(html, "accept_declaration")
    assert "I ask to receive my insurance documents electronically on the portal (ePosta)" in html

    assert client.post("/register", data=REGISTRATION).headers["Location"].endswith("/register/sent")
    sent = [c for c in fakes.identity.calls if c[0] == "register"][0][1]
    assert sent["accept_declaration"] is True
    assert fakes.identity.declarations["C-2"]["channel"] == "registration"  # identity records it


def test_identity_asking_for_the_declaration_lands_under_the_checkbox(client, fakes):
    for lang, message in (("hu", "Nyilatkozat kell."), ("en", "The declaration is needed.")):
        fakes.identity.fail["register"] = InvalidFields("identity", 422, {"error": "invalid", "fields": {
            "accept_declaration": [{"code": "required", "message_hu": "Nyilatkozat kell.",
                                    "message_en": "The declaration is needed."}]}})
        html = text(client.post(f"/register?lang={lang}", data=REGISTRATION))
        assert field_error(html, "accept_declaration") == message


def test_registration_awaiting_activation_points_to_the_mailbox_and_the_resend_form(client, fakes):
    again = {**REGISTRATION, "username": "anna3", "email": "other@example.com"}
    fakes.identity.fail["register"] = ActivationPending("identity", 422, {"error": "activation_pending"})
    response = client.post("/register", data=again)
    html = text(response)
    assert response.status_code == 200 and 'id="activation-pending"' in html
    assert "aktiválásra váró regisztráció" in html and "spam" in html and "Promóciók" in html
    assert 'action="/register/resend"' in html and 'value="other@example.com"' in input_tag(html, "email")
    assert len([c for c in fakes.identity.calls if c[0] == "register"]) == 1
    fakes.identity.fail["register"] = ActivationPending("identity", 422, {"error": "activation_pending"})
    html = text(client.post("/register?lang=en", data=again))
    assert "awaiting activation" in html and "Promotions" in html
    response = client.post("/register/resend", data={"email": "anna@example.com"})
    assert response.headers["Location"].endswith("/register/sent")
    assert ("resend_activation", "anna@example.com") in fakes.identity.calls


def test_registration_of_a_registered_customer_is_refused(client, fakes):
    fakes.identity.fail["register"] = AlreadyRegistered("identity", 422, {"error": "already_registered"})
    html = text(client.post("/register", data={**REGISTRATION, "policy_number": "KGFB-1", "username": "x.y"}))
    assert "már tartozik Ügyfélportál-fiók" in html


# Withdrawing the declaration without an account ----------------------------------------------------------------------
IDENTIFICATION = {k: REGISTRATION[k] for k in ("policy_number", "name", "birth_name", "birth_date", "birth_place",
                                                 "mother_name")}


def test_public_withdrawal_needs_the_identification_and_the_confirmation(client, fakes):
    html = text(client.get("/declaration/withdraw"))
    for name in (*IDENTIFICATION, "confirm"):
        input_tag(html, name)
    html = text(client.post("/declaration/withdraw", data={"name": "Minta Anna"}))
    assert field_error(html, "policy_number") == "Kérjük, adja meg a kötvényszámot."
    assert field_error(html, "confirm") == "A visszavonáshoz kérjük, jelölje be ezt a négyzetet."
    assert 'value="Minta Anna"' in input_tag(html, "name")
    assert not [c for c in fakes.identity.calls if c[0] == "withdraw_declaration_identified"]


def test_public_withdrawal_sends_only_the_identification_and_says_post_again(client, fakes):
    fakes.identity.add_declaration("C-2", email="anna@example.com")
    response = client.post("/declaration/withdraw", data={**IDENTIFICATION, "confirm": "y"})
    assert response.headers["Location"].endswith("/declaration/withdrawn")
    sent = [c for c in fakes.identity.calls if c[0] == "withdraw_declaration_identified"][0][1]
    assert sent == IDENTIFICATION  # birth_date as YYYY-MM-DD; no e-mail, no checkbox
    assert fakes.identity.declarations["C-2"]["active"] is False
    html = text(client.get("/declaration/withdrawn"))
    assert 'id="withdrawn"' in html and "ismét postai levélben küldjük" in html
    assert "by post again" in text(client.get("/declaration/withdrawn?lang=en"))


def test_public_withdrawal_mismatch_is_the_generic_identification_message(client, fakes):
    fakes.identity.add_declaration("C-2")
    html = text(client.post("/declaration/withdraw", data={**IDENTIFICATION, "mother_name": "Más Valaki",
                                                           "confirm": "y"}))
    registration = text(client.post("/register", data={**REGISTRATION, "mother_name": "Más Valaki"}))
    message = re.search(r'<div class="alert alert--error error-summary"[^>]*>\s*<p>(.*?)</p>', html, re.S).group(1)
    assert "nem sikerült azonosítani" in message and "+36 1 555 0100" in message
    assert message in registration  # the same words as on every identification
    for name in IDENTIFICATION:
        assert field_error(html, name) is None
    assert fakes.identity.declarations["C-2"]["active"] is True


def test_public_withdrawal_without_an_active_declaration_or_throttled(client, fakes):
    html = text(client.post("/declaration/withdraw", data={**IDENTIFICATION, "confirm": "y"}))
    assert "nincs érvényes nyilatkozata" in html and "nincs mit visszavonni" in html
    html = text(client.post("/declaration/withdraw?lang=en", data={**IDENTIFICATION, "confirm": "y"}))
    assert "nothing to withdraw" in html
    fakes.identity.fail["withdraw_declaration_identified"] = Throttled("identity", 429, {"error": "throttled",
                                                                                        "retry_after": 600})
    html = text(client.post("/declaration/withdraw?lang=hu", data={**IDENTIFICATION, "confirm": "y"}))
    assert "várjon 10 percet" in html


def test_withdrawal_page_is_linked_from_the_declaration_page_landing_page_and_manual(client):
    for path in ("/declaration", "/", "/help", "/help?lang=en"):
        assert 'href="/declaration/withdraw"' in text(client.get(path)), path
