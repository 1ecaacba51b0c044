"""Each invalid field shows its message in red under the field, linked with aria-describedby; other values kept,
never passwords; nothing is sent to a service while any field is invalid; the API's field errors land under the
matching field in the current language."""
from __future__ import annotations

import re

from gateway.clients.http import InvalidFields, Throttled

from .conftest import field_error, input_tag, login, text

REGISTRATION = {
    "policy_number": "KGFB-1", "name": "Minta Anna", "birth_name": "Minta Anna", "birth_date": "1985-04-12",
    "birth_place": "Szeged", "mother_name": "Példa Mária", "email": "anna@example.com",
    "mobile": "06 30 123 4567", "username": "anna2",
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
    assert "érvényes e-mail-címet" in field_error(html, "email")
    assert "magyar mobiltelefonszámot adjon meg" in field_error(html, "mobile")
    assert field_error(html, "birth_date") == "Kérjük, valós születési dátumot adjon meg."
    assert 'value="Példa Mária"' in input_tag(html, "mother_name")
    assert 'value="not-an-address"' in input_tag(html, "email")
    assert 'type="date"' in input_tag(html, "birth_date")
    assert not [c for c in fakes.identity.calls if c[0] == "register"]


def test_registration_sends_normalised_data_and_shows_mailbox_page(client, fakes):
    response = client.post("/register", data=REGISTRATION)
    assert response.headers["Location"].endswith("/register/sent")
    sent = [c for c in fakes.identity.calls if c[0] == "register"][0][1]
    assert sent["mobile"] == "+36301234567" and sent["birth_date"] == "1985-04-12" and sent["language"] == "hu"
    html = text(client.get("/register/sent"))
    assert "anna@example.com" in html and "spam" in html and "Promóciók" in html
    assert 'action="/register/resend"' in html


def test_api_field_error_lands_under_the_field_in_the_current_language(client, fakes):
    client.post("/register", data=REGISTRATION)  # anna2 now exists
    html = text(client.post("/register", data=REGISTRATION))
    assert field_error(html, "username") == "Ez a felhasználónév már foglalt."
    html = text(client.post("/register?lang=en", data=REGISTRATION))
    assert field_error(html, "username") == "This username is already taken."


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


def test_change_password_rules_and_api_errors(logged_in, fakes):
    html = text(logged_in.post("/account/password", data={
        "current_password": "correct horse battery", "new_password": "short", "new_password_confirm": "other"}))
    assert field_error(html, "new_password") == "Az új jelszó legalább 12 karakter hosszú legyen."
    assert field_error(html, "new_password_confirm") == "A két új jelszó nem egyezik."
    assert "correct horse battery" not in html
    html = text(logged_in.post("/account/password", data={
        "current_password": "not my password", "new_password": "a brand new sentence",
        "new_password_confirm": "a brand new sentence"}))
    assert field_error(html, "current_password") == "A jelenlegi jelszó nem megfelelő."
    html = text(logged_in.post("/account/password", data={
        "current_password": "x", "new_password": "anna", "new_password_confirm": "anna"}))
    assert "nem egyezhet meg a felhasználónévvel" in field_error(html, "new_password")


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
