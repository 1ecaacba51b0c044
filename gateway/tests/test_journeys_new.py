"""The customer journeys of issue 12 at the gateway: "Kérdésem van", changing the e-mail address and the mobile
number, the language (Accept-Language, the header switch, remembered, stored with the account), the favicon."""
from __future__ import annotations

import re

import pytest

from gateway.clients.http import Throttled

from .conftest import PASSWORD, field_error, input_tag, login, text

FORM = {"name": "Teszt Elek", "phone": "06 1 555 0100", "email": "elek@example.com", "policy_number": "",
        "topic": "claim", "message": "Hol tart a kárbejelentésem?", "preferred_time": "morning"}


def form_key(client) -> str:
    html = text(client.get("/contact"))
    match = re.search(r'<input[^>]*id="idempotency_key"[^>]*>', html)
    return re.search(r'value="([^"]+)"', match.group(0)).group(1)


# -------------------------------------------------------------------------------------------- Kérdésem van
@pytest.mark.parametrize("path", ["/", "/help", "/login", "/declaration"])
def test_the_callback_page_is_linked_from_public_pages_header_and_footer(client, path):
    html = text(client.get(path))
    assert html.count('href="/contact"') >= 2  # header and footer (and the page's own link on some)


def test_the_callback_page_is_linked_on_logged_in_pages(logged_in):
    for path in ("/home", "/account", "/documents", "/policies"):
        assert 'href="/contact"' in text(logged_in.get(path)), path


def test_each_field_gets_its_red_message(client):
    key = form_key(client)
    response = client.post("/contact", data={"idempotency_key": key, "phone": "", "email": "",
                                             "preferred_time": "any"})
    html = text(response)
    assert response.status_code == 422
    for name in ("name", "phone", "email", "topic", "message"):
        assert field_error(html, name), name
    assert field_error(html, "policy_number") is None  # optional
    assert 'aria-invalid="true"' in input_tag(html, "phone")
    assert f'value="{key}"' in html  # the same form keeps its key


def test_a_request_is_sent_once_and_confirmed_with_the_deadline(client, fakes):
    key = form_key(client)
    first = client.post("/contact", data={**FORM, "idempotency_key": key})
    assert first.status_code == 302 and first.headers["Location"].endswith("/contact/sent")
    again = client.post("/contact", data={**FORM, "idempotency_key": key})  # reload / double click
    assert again.status_code == 302
    assert len(fakes.identity.callbacks) == 1
    [sent] = fakes.identity.callbacks.values()
    assert sent["data"]["account_id"] is None and sent["data"]["language"] == "hu"
    html = text(client.get("/contact/sent"))
    assert "2026. december 8., kedd" in html and "elek@example.com" in html and "06 1 555 0100" in html


def test_a_logged_in_customer_finds_the_form_pre_filled_and_is_named_by_the_session_only(logged_in, fakes):
    fakes.policies.holder_names["C-1"] = "Minta Anna"
    html = text(logged_in.get("/contact"))
    assert 'value="Minta Anna"' in input_tag(html, "name")
    assert 'value="anna@example.com"' in input_tag(html, "email")
    assert 'value="+36301234567"' in input_tag(html, "phone")
    assert 'value="KGFB-1"' in input_tag(html, "policy_number")
    logged_in.post("/contact", data={**FORM, "idempotency_key": form_key(logged_in), "account_id": "A-99"})
    [sent] = fakes.identity.callbacks.values()
    assert sent["data"]["account_id"] == "A-1"  # from the session, never from the form


def test_a_throttled_client_is_told_when_to_try_again(client, fakes):
    fakes.identity.fail["request_callback"] = Throttled("identity", 429, {"error": "throttled", "retry_after": 600})
    response = client.post("/contact", data={**FORM, "idempotency_key": form_key(client)})
    assert response.status_code == 422 and "10 perc" in text(response)


def test_the_sent_page_without_a_request_goes_back_to_the_form(client):
    assert client.get("/contact/sent").headers["Location"].endswith("/contact")


# --------------------------------------------------------------------------------------- e-mail and mobile
def test_the_profile_links_both_changes(logged_in):
    html = text(logged_in.get("/account"))
    assert 'href="/account/email"' in html and 'href="/account/mobile"' in html


def test_a_new_email_needs_the_password_and_the_link(logged_in, fakes):
    response = logged_in.post("/account/email", data={"email": "anna.uj@example.com", "password": "wrong"})
    assert response.status_code == 422 and field_error(text(response), "password")
    response = logged_in.post("/account/email", data={"email": "anna.uj@example.com", "password": PASSWORD})
    assert response.headers["Location"].endswith("/account/email/sent")
    assert "anna.uj@example.com" in text(logged_in.get("/account/email/sent"))
    assert fakes.identity.accounts["A-1"]["email"] == "anna@example.com"
    page = logged_in.get("/account/email/confirm/email-tok-A-1")  # a GET changes nothing (mail scanners)
    assert page.status_code == 200 and fakes.identity.accounts["A-1"]["email"] == "anna@example.com"
    done = logged_in.post("/account/email/confirm/email-tok-A-1")
    assert done.status_code == 200 and "anna.uj@example.com" in text(done)
    assert fakes.identity.accounts["A-1"]["email"] == "anna.uj@example.com"
    again = logged_in.post("/account/email/confirm/email-tok-A-1")
    assert again.status_code == 410


def test_a_new_mobile_needs_the_password_and_the_sms_code(logged_in, fakes):
    response = logged_in.post("/account/mobile", data={"mobile": "+36209876543", "password": PASSWORD})
    assert response.headers["Location"].endswith("/account/mobile/confirm")
    assert "+36 20 *** 6543" in text(logged_in.get("/account/mobile/confirm"))
    wrong = logged_in.post("/account/mobile/confirm", data={"code": "654321"})
    assert wrong.status_code == 422 and field_error(text(wrong), "code")
    assert fakes.identity.accounts["A-1"]["mobile"] == "+36301234567"
    ok = logged_in.post("/account/mobile/confirm", data={"code": "123456"})
    assert ok.headers["Location"].endswith("/account")
    assert fakes.identity.accounts["A-1"]["mobile"] == "+36209876543"
    gone = logged_in.post("/account/mobile/confirm", data={"code": "123456"})
    assert gone.status_code == 422 and "Kérjen új kódot" in text(gone)


def test_the_change_pages_need_a_login(client):
    for path in ("/account/email", "/account/mobile", "/account/mobile/confirm"):
        assert "/login" in client.get(path).headers["Location"], path


# ---------------------------------------------------------------------------------------------- language
def test_a_first_visit_follows_accept_language(client):
    html = text(client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert '<html lang="en">' in html
    html = text(client.get("/", headers={"Accept-Language": "de-DE,hu;q=0.5"}))
    assert '<html lang="hu">' in html
    assert '<html lang="hu">' in text(client.get("/", headers={"Accept-Language": "fr"}))


def test_the_switch_is_in_the_header_and_is_remembered_across_visits(app, client):
    html = text(client.get("/help"))
    header = html.split("</header>")[0]
    assert 'id="lang-en"' in header
    response = client.get("/help?lang=en")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("portal_lang="))
    assert "portal_lang=en" in cookie and "Max-Age" in cookie and "HttpOnly" in cookie
    later = app.test_client()  # a new browser session: only the long-lived cookie remains
    later.set_cookie("portal_lang", "en")
    assert '<html lang="en">' in text(later.get("/", headers={"Accept-Language": "hu"}))


def test_a_logged_in_switch_is_stored_with_the_account(logged_in, fakes):
    logged_in.get("/home?lang=en")
    assert fakes.identity.accounts["A-1"]["language"] == "en"
    assert "English" in text(logged_in.get("/account"))


def test_a_choice_made_before_login_goes_to_the_account_and_without_one_the_account_s_language_applies(
        client, fakes, app):
    client.get("/?lang=en")
    login(client)
    assert fakes.identity.accounts["A-1"]["language"] == "en"
    other = app.test_client()
    login(other)  # no choice in this browser: the pages take the account's language
    assert '<html lang="en">' in text(other.get("/home", headers={"Accept-Language": "hu"}))


def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.data[:4] == b"\x00\x00\x01\x00"
    assert 'rel="icon"' in text(client.get("/"))
