"""Login, the session cookie, forced password change, idle expiry, logout, lockout, CSRF."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from gateway.app import create_app
from gateway.clients.fakes import fake_clients
from gateway.clients.http import Locked

from .conftest import PASSWORD, login, text


def _cookie(response, name="portal_session"):
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    return None


def test_login_changes_the_session_cookie_and_sets_safe_flags(client):
    client.get("/login?lang=en")  # a cookie exists before login (language)
    before = client.get_cookie("portal_session").value
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/home")
    header = _cookie(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    assert client.get_cookie("portal_session").value != before
    with client.session_transaction() as s:
        assert s["lang"] == "en" and s["sid"]  # the language survives the new session


def test_cookie_is_secure_behind_https(fakes):
    app = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False, "SESSION_COOKIE_SECURE": True})
    assert "Secure" in _cookie(login(app.test_client()))


def test_secure_flag_follows_public_url(monkeypatch, fakes):
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.biztosito.hu")
    app = create_app({"CLIENTS": fakes})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_next_parameter_is_local_only(client):
    assert client.get("/documents").headers["Location"].endswith("/login?next=/documents")
    response = client.post("/login?next=/documents", data={"username": "anna", "password": PASSWORD})
    assert response.headers["Location"].endswith("/documents")
    client.post("/logout")
    response = client.post("/login?next=//evil.example/x", data={"username": "anna", "password": PASSWORD})
    assert response.headers["Location"].endswith("/home")


def test_must_change_password_redirects_every_protected_page(client, fakes):
    fakes.identity.add_account(username="new", password="initial-pass-12", customer_id="C-2",
                               must_change_password=True)
    response = login(client, "new", "initial-pass-12")
    assert response.headers["Location"].endswith("/account/password")
    for path in ("/home", "/documents", "/policies", "/account"):
        assert client.get(path).headers["Location"].endswith("/account/password"), path
    html = text(client.get("/account/password"))
    assert 'id="forced-notice"' in html
    response = client.post("/account/password", data={
        "current_password": "initial-pass-12", "new_password": "my own long sentence",
        "new_password_confirm": "my own long sentence"})
    assert response.headers["Location"].endswith("/home")
    assert client.get("/home").status_code == 200


def test_idle_expired_session_goes_to_login_with_a_notice(logged_in, fakes):
    fakes.identity.expire_all_sessions()  # identity's 15-minute idle timer ran out
    response = logged_in.get("/documents")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    html = text(logged_in.get(response.headers["Location"]))
    assert "15 perc tétlenség után" in html
    with logged_in.session_transaction() as s:
        assert "sid" not in s


def test_every_protected_request_validates_the_session(logged_in, fakes):
    fakes.identity.calls.clear()
    logged_in.get("/home")
    assert [c for c in fakes.identity.calls if c[0] == "get_session"]


def test_logout_is_a_post_and_ends_the_identity_session(logged_in, fakes):
    assert logged_in.get("/logout").status_code == 405
    html = text(logged_in.get("/home"))
    assert re.search(r'<form method="post" action="/logout"', html)
    response = logged_in.post("/logout")
    assert response.headers["Location"].endswith("/login")
    assert fakes.identity.sessions == {}
    assert logged_in.get("/home").status_code == 302


def test_third_wrong_password_shows_locked_page_with_budapest_time(client, fakes):
    fakes.identity.fail["login"] = __import__("gateway.clients.http", fromlist=["Locked"]).Locked(
        "identity", 423, {"error": "locked", "locked_until": "2026-11-22T13:05:00+00:00"})
    response = client.post("/login", data={"username": "anna", "password": "wrong"})
    assert response.headers["Location"].endswith("/locked")
    html = text(client.get("/locked"))
    assert 'id="locked-until"' in html
    assert "14:05" in html  # 13:05 UTC is 14:05 in Budapest (CET) in November
    assert 'href="/forgotten"' in html


def test_forgotten_answers_identically_for_match_and_no_match(client, fakes):
    known = client.post("/forgotten", data={"email": "anna@example.com", "mobile": "+36301234567"})
    unknown = client.post("/forgotten", data={"email": "nobody@example.com", "mobile": "+36709999999"})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    a, b = client.get(known.headers["Location"]), client.get(unknown.headers["Location"])
    assert a.status_code == b.status_code == 200 and text(a) == text(b)
    assert fakes.identity.recoveries == [("anna@example.com", "+36301234567"), ("nobody@example.com", "+36709999999")]


def test_forgotten_hides_refusals_too(client, fakes):
    from gateway.clients.http import Throttled

    fakes.identity.fail["recover"] = Throttled("identity", 429, {"error": "throttled", "retry_after": 60})
    response = client.post("/forgotten", data={"email": "anna@example.com", "mobile": "+36301234567"})
    assert response.headers["Location"].endswith("/forgotten/sent")


def test_activation_link_get_changes_nothing_post_activates(client, fakes):
    fakes.identity.add_holder(customer_id="C-9", policy_number="HOME-9")
    client.post("/register", data={
        "policy_number": "HOME-9", "name": "Minta Anna", "birth_name": "Minta Anna", "birth_date": "1985-04-12",
        "birth_place": "Szeged", "mother_name": "Példa Mária", "email": "b@example.com", "mobile": "+36301234567",
        "username": "beata", "accept_declaration": "y"})
    token = next(iter(fakes.identity.tokens))
    html = text(client.get(f"/activate/{token}"))
    assert not [c for c in fakes.identity.calls if c[0] == "activate"]
    assert f'action="/activate/{token}"' in html and 'id="submit"' in html
    response = client.post(f"/activate/{token}")
    assert response.headers["Location"].endswith("/activate/done")
    html = text(client.get("/activate/done"))
    assert "+36 30 *** 4567" in html and 'id="sms-failed"' not in html
    again = client.post(f"/activate/{token}")
    assert again.status_code == 410 and "már felhasználták" in text(again)
    assert client.post("/activate/nonsense").status_code == 410


def test_sms_failure_is_shown_on_activation_result_and_login_pages(client, fakes):
    fakes.identity.add_holder(customer_id="C-9", policy_number="HOME-9")
    client.post("/register", data={
        "policy_number": "HOME-9", "name": "Minta Anna", "birth_name": "Minta Anna", "birth_date": "1985-04-12",
        "birth_place": "Szeged", "mother_name": "Példa Mária", "email": "b@example.com", "mobile": "+36301234567",
        "username": "beata", "accept_declaration": "y"})
    token, account_id = next(iter(fakes.identity.tokens.items()))
    client.post(f"/activate/{token}")
    fakes.identity.accounts[account_id]["sms_status"] = "failed"  # notify published notification.failed
    for path in ("/activate/done", "/login"):
        html = text(client.get(path))
        assert 'id="sms-failed"' in html and "+36 1 555 0100" in html, path


@pytest.fixture()
def csrf_client(fakes):
    return create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": True}).test_client()


def test_csrf_rejects_a_post_without_token(csrf_client, fakes):
    response = csrf_client.post("/login", data={"username": "anna", "password": PASSWORD})
    assert response.status_code == 400
    assert "biztonsági azonosítója" in text(response)
    assert not [c for c in fakes.identity.calls if c[0] == "login"]


def test_csrf_token_on_every_form_and_accepted(csrf_client):
    for path in ("/login", "/register", "/declaration", "/declaration/withdraw", "/forgotten", "/register/sent",
                 "/activate/x"):
        assert 'name="csrf_token"' in text(csrf_client.get(path)), path
    html = text(csrf_client.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = csrf_client.post("/login", data={"username": "anna", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert 'name="csrf_token"' in text(csrf_client.get("/home"))  # the logout button is a form too


def test_production_requires_a_secret_key(monkeypatch, fakes):
    from portal_common.config import ConfigError

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN", "g" * 40)
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.biztosito.hu")
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY"):
        create_app({"CLIENTS": fakes})


def test_production_requires_the_public_url(monkeypatch, fakes):
    """Without it cookies would not be Secure and links would point at 127.0.0.1."""
    from portal_common.config import ConfigError

    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN", "g" * 40)
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 32)
    monkeypatch.delenv("PORTAL_PUBLIC_URL", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_PUBLIC_URL"):
        create_app({"CLIENTS": fakes})


def test_locked_until_is_shown_in_english_too(client, fakes):
    from gateway.clients.http import Locked

    until = (datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc) + timedelta(0)).isoformat()
    fakes.identity.fail["login"] = Locked("identity", 423, {"error": "locked", "locked_until": until})
    client.post("/login?lang=en", data={"username": "anna", "password": "x"})
    html = text(client.get("/locked"))
    assert "The lock ends at" in html and "12:00" in html  # CEST in July


def test_login_throttled_tells_the_minutes_in_both_languages(client, fakes):
    from gateway.clients.http import Throttled

    for retry_after, lang, needle in ((600, "hu", "túl sok bejelentkezési kísérlet érkezett. Kérjük, 10 perc múlva"),
                                      (45, "en", "Too many login attempts have come from this device or network. "
                                                 "Please try again in 1 minute."),
                                      (600, "en", "Please try again in 10 minutes.")):
        fakes.identity.fail["login"] = Throttled("identity", 429, {"error": "throttled", "retry_after": retry_after})
        response = client.post(f"/login?lang={lang}", data={"username": "anna", "password": PASSWORD})
        assert response.status_code == 200 and needle in text(response), (retry_after, lang)
        with client.session_transaction() as s:
            assert "sid" not in s


def test_login_of_an_account_awaiting_activation_is_the_plain_wrong_credentials_answer(client, fakes):
    fakes.identity.add_account(username="waiting", password="correct horse battery", customer_id="C-5",
                               status="pending_activation")
    pending = text(client.post("/login", data={"username": "waiting", "password": "correct horse battery"}))
    unknown = text(client.post("/login", data={"username": "nobody", "password": "correct horse battery"}))
    assert "Hibás felhasználónév vagy jelszó." in pending and "Hibás felhasználónév vagy jelszó." in unknown
    assert pending.replace("waiting", "X") == unknown.replace("nobody", "X")


def _answer(client, response) -> str:
    assert response.status_code == 302
    return text(client.get(response.headers["Location"]))


def test_resend_answers_the_same_when_throttled(fakes):
    from gateway.clients.http import Throttled

    pages = []
    for throttled in (False, True):
        app = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False})
        client = app.test_client()
        if throttled:
            fakes.identity.fail["resend_activation"] = Throttled("identity", 429, {"error": "throttled",
                                                                                   "retry_after": 300})
        pages.append(_answer(client, client.post("/register/resend", data={"email": "anna@example.com"})))
    assert pages[0] == pages[1] and "új aktiváló linket küldtünk" in pages[0]
    assert "perc" not in pages[1]


def test_forgotten_answers_the_same_when_throttled(fakes):
    from gateway.clients.http import Throttled

    pages = []
    for throttled in (False, True):
        client = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False}).test_client()
        if throttled:
            fakes.identity.fail["recover"] = Throttled("identity", 429, {"error": "throttled", "retry_after": 300})
        pages.append(_answer(client, client.post("/forgotten", data={"email": "anna@example.com",
                                                                     "mobile": "+36301234567"})))
    assert pages[0] == pages[1] and 'id="recovery-answer"' in pages[0]


def test_idle_notice_and_password_minimum_come_from_identitys_rules(fakes):
    fakes.identity.rules_answer.update(session_idle_minutes=30, password_min_length=16)
    client = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False}).test_client()
    login(client)
    assert "Legalább 16 karakter;" in text(client.get("/account/password"))
    fakes.identity.expire_all_sessions()
    html = text(client.get(client.get("/home").headers["Location"]))
    assert "30 perc tétlenség után" in html


def test_without_identitys_rules_the_pages_leave_the_numbers_out(fakes):
    fakes.identity.rules_answer = None  # identity never answered since the gateway started
    client = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False}).test_client()
    assert 'id="lock-rule"' not in text(client.get("/login"))
    login(client)
    fakes.identity.expire_all_sessions()
    html = text(client.get(client.get("/home").headers["Location"]))
    assert "tétlenség miatt biztonsági okból lejárt" in html


def test_a_wrong_password_that_locks_on_a_logged_in_page_ends_the_session_and_shows_the_lock(logged_in, fakes):
    lock = {"error": "locked", "locked_until": "2026-11-22T13:05:00+00:00", "lockout_threshold": 3,
            "lockout_hours": 24}
    fakes.identity.fail["change_password"] = Locked("identity", 423, lock)
    response = logged_in.post("/account/password", data={
        "current_password": "guess 3", "new_password": "a brand new sentence",
        "new_password_confirm": "a brand new sentence"})
    assert response.headers["Location"].endswith("/locked")
    with logged_in.session_transaction() as s:
        assert "sid" not in s
    html = text(logged_in.get("/locked"))
    assert "Egymás után 3 alkalommal" in html and "14:05" in html
    login(logged_in)
    fakes.identity.fail["close_account"] = Locked("identity", 423, lock)
    response = logged_in.post("/account/close", data={"password": "guess"})
    assert response.headers["Location"].endswith("/locked")
