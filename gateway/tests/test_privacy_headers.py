"""The session cookie shows no personal data; no page is cached; HSTS when the portal is served over TLS."""
from __future__ import annotations

import base64
import zlib

import pytest
from flask.sessions import SecureCookieSessionInterface

from gateway.app import HSTS, create_app

from .conftest import PASSWORD, login, text

EMAIL, MOBILE, USERNAME = "beata.titok@example.com", "+36301239876", "beata"


def register_and_activate(client, fakes):
    fakes.identity.add_holder(customer_id="C-9", policy_number="HOME-9")
    client.post("/register", data={
        "policy_number": "HOME-9", "name": "Minta Anna", "birth_name": "Minta Anna", "birth_date": "1985-04-12",
        "birth_place": "Szeged", "mother_name": "Példa Mária", "email": EMAIL, "mobile": MOBILE,
        "username": USERNAME, "accept_declaration": "y"})
    token = next(iter(fakes.identity.tokens))
    assert client.post(f"/activate/{token}").headers["Location"].endswith("/activate/done")


def readable_forms(cookie: str) -> str:
    """Everything an onlooker could decode from the cookie value: itself, its base64 parts, inflated or not."""
    seen = [cookie]
    for part in cookie.lstrip(".").split("."):
        try:
            raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        except ValueError:
            continue
        seen.append(raw.decode("latin-1"))
        try:
            seen.append(zlib.decompress(raw).decode("latin-1"))
        except zlib.error:
            pass
    return "\n".join(seen)


def test_the_cookie_holds_the_email_mobile_and_username_only_encrypted(client, fakes, app):
    register_and_activate(client, fakes)
    html = text(client.get("/activate/done"))
    assert USERNAME in html  # the page shows them (from the session) ...
    cookie = client.get_cookie("portal_session").value
    plain = readable_forms(cookie)
    for secret in (EMAIL, MOBILE, MOBILE[-4:] + '"', USERNAME + '"', "registered_email", "activation"):
        assert secret not in plain  # ... the cookie does not show them to anyone
    # Flask's default (signed only) interface cannot read it either: it is not merely signed.
    assert SecureCookieSessionInterface().get_signing_serializer(app) is not None
    with pytest.raises(Exception):
        SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)


def test_a_tampered_or_foreign_cookie_opens_as_an_empty_session(client, fakes):
    login(client)
    assert client.get("/home").status_code == 200
    cookie = client.get_cookie("portal_session").value
    flipped = cookie[:-6] + ("A" if cookie[-6] != "A" else "B") + cookie[-5:]
    client.set_cookie("portal_session", flipped)
    assert client.get("/home").headers["Location"].startswith("/login")
    other = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "another-" + "k" * 40})
    foreign = other.test_client()
    login(foreign)
    client.set_cookie("portal_session", foreign.get_cookie("portal_session").value)
    assert client.get("/home").headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/declaration/done", "/register/sent", "/locked",
                                  "/forgotten"])
def test_no_page_is_stored_by_a_browser_or_a_cache(client, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_the_activation_result_and_personal_pages_are_no_store(client, fakes):
    register_and_activate(client, fakes)
    assert client.get("/activate/done").headers["Cache-Control"] == "no-store"
    client.post("/login", data={"username": "anna", "password": PASSWORD})
    for path in ("/home", "/documents", "/policies", "/account"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_static_files_may_be_cached(client):
    response = client.get("/static/portal.css")
    assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_only_when_served_over_tls(client, fakes, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    over_tls = client.get("/login", base_url="https://portal.example.com")
    assert over_tls.headers["Strict-Transport-Security"] == HSTS
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.example.com")
    behind_ingress = create_app({"CLIENTS": fakes}).test_client()  # TLS ends at the ingress
    assert behind_ingress.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
