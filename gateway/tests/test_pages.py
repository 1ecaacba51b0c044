"""Public pages, language switch, error pages (HTML or JSON), security headers, health, dev pages."""
from __future__ import annotations

import json
import time
from pathlib import Path

from gateway.app import create_app

from .conftest import text


def test_public_pages_render(client):
    for path, needle in [("/", "három lépésben"), ("/help", "24 órára zároljuk"), ("/help/browsers", "Safari"),
                         ("/declaration/withdraw", "Nyilatkozat visszavonása"),
                         ("/declaration", "Nyilatkozat"), ("/register", "Regisztráció"), ("/login", "Bejelentkezés"),
                         ("/forgotten", "Elfelejtett"), ("/locked", "zárolva")]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert needle in text(response), path
        assert "+36 1 555 0100" in text(response)  # the footer's telephone service


def test_manual_covers_the_rules(client):
    html = text(client.get("/help"))
    for needle in ("13 hónapig", "az eredeti példánya", "levélszemét", "Promóciók", "24 órára zároljuk",
                   "piros üzenet", "elfelejtett adatok", 'href="/declaration/withdraw"'):
        assert needle in html, needle


def test_insurer_name_and_phone_come_from_configuration(fakes):
    app = create_app({"CLIENTS": fakes, "INSURER_NAME": "Próba Zrt.", "TELESERVICE_PHONE": "+36 1 999 9999"})
    html = text(app.test_client().get("/"))
    assert "Próba Zrt." in html and "+36 1 999 9999" in html and "Minta Biztosító" not in html


def test_language_switch_shows_english_and_is_remembered(client):
    html = text(client.get("/?lang=en"))
    assert '<html lang="en">' in html and "Get started in three steps" in html
    html = text(client.get("/login"))
    assert "Forgot your username or password?" in html
    html = text(client.get("/help"))
    assert "User manual" in html and "locked for 24 hours" in html
    html = text(client.post("/login", data={}))
    assert "Please give your username." in html
    html = text(client.get("/?lang=hu"))
    assert "Így kezdheti el három lépésben" in html


def test_language_links_keep_the_page(client):
    html = text(client.get("/help/browsers"))
    assert 'href="/help/browsers?lang=en"' in html


def test_error_pages_html_and_json(client, logged_in, fakes):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "Az oldal nem található" in text(response)
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json["error"] == "not_found"
    fakes.policies.down = True
    response = logged_in.get("/policies", headers={"Accept": "application/json"})
    assert response.status_code == 503 and response.json["error"] == "service_unavailable"
    html = text(logged_in.get("/policies"))
    assert "A szolgáltatás átmenetileg nem érhető el" in html


def test_unexpected_error_shows_no_stack_trace(fakes):
    app = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = text(response)
    assert "secret internals" not in body and "Traceback" not in body
    assert response.headers["X-Correlation-ID"] in body  # the reference the telephone service can look up


def test_security_headers_and_correlation_id(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert len(response.headers["X-Correlation-ID"]) == 32
    assert client.get("/").headers["X-Correlation-ID"] != response.headers["X-Correlation-ID"]


def test_correlation_id_is_sent_to_services(logged_in, fakes):
    from portal_common import logs

    seen = []
    original = fakes.policies.customer_policies

    def spy(customer_id):
        seen.append(logs.current_correlation_id())
        return original(customer_id)

    fakes.policies.customer_policies = spy
    response = logged_in.get("/policies")
    assert seen == [response.headers["X-Correlation-ID"]]
    # the ingress's request id (tests/…/test_edge_correlation.py) travels on to the services the same way
    logged_in.get("/policies", headers={"X-Request-ID": "ingress-7f3a9c"})
    assert seen[-1] == "ingress-7f3a9c"


def test_public_port_serves_liveness_only(client):
    """/readyz and /metrics are on the operations port (tests/deploy/test_gateway_ops_port.py), not the public one."""
    assert client.get("/healthz").json == {"status": "alive"}
    assert client.get("/readyz").status_code == 404
    assert client.get("/metrics").status_code == 404


def test_dev_pages_list_captured_mail_and_sms_newest_first(client, app, tmp_path):
    mail, sms = tmp_path / "mail", tmp_path / "sms"
    mail.mkdir()
    sms.mkdir()
    (mail / "1.eml").write_bytes(
        b"From: portal@example.com\r\nTo: anna@example.com\r\nSubject: =?utf-8?q?Aktiv=C3=A1l=C3=A1s?=\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nKattintson: http://127.0.0.1:8000/activate/abc123\r\n")
    time.sleep(0.01)
    (mail / "2.eml").write_bytes(b"From: a@b.c\r\nTo: anna@example.com\r\nSubject: Newer\r\n\r\nhi <script>\r\n")
    (sms / "1.json").write_text('{"to": "+36301234567", "text": "Kezdo jelszo: Xy7-abc"}', "utf-8")
    html = text(client.get("/dev/mail"))
    assert html.index("Newer") < html.index("Aktiválás")
    assert '<a href="http://127.0.0.1:8000/activate/abc123">' in html
    assert "<script>" not in html.split("</header>")[1]  # bodies are escaped
    html = text(client.get("/dev/sms"))
    assert "+36301234567" in html and "Xy7-abc" in html


def test_dev_crm_page_lists_what_the_demo_crm_received_newest_first_escaped(client, tmp_path):
    crm = tmp_path / "crm"
    crm.mkdir()
    (crm / "a.json").write_text(json.dumps({
        "event": "customer.callback_requested", "message_id": "a", "received_at": "2026-12-04T10:00:00+00:00",
        "payload": {"name": "Minta Vilma", "phone": "+3615550199", "due_on": "2026-12-08"}}), "utf-8")
    time.sleep(0.01)
    (crm / "b.json").write_text(json.dumps({
        "event": "customer.contact_changed", "message_id": "b", "received_at": "2026-12-04T10:05:00+00:00",
        "payload": "<script>not json</script>"}), "utf-8")
    html = text(client.get("/dev/crm"))
    assert html.index("customer.contact_changed") < html.index("customer.callback_requested")
    assert "+3615550199" in html and "2026-12-08" in html and "Minta Vilma" in html
    assert "<script>" not in html.split("</header>")[1]
    assert 'href="/dev/crm"' in text(client.get("/dev/"))


def test_dev_pages_are_off_in_production(monkeypatch, fakes):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN", "g" * 40)
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.biztosito.hu")
    monkeypatch.setenv("PORTAL_GATEWAY_CACHE", "off")  # else production needs PORTAL_AMQP_URL (the cache's feed)
    assert create_app({"CLIENTS": fakes}).test_client().get("/dev/mail").status_code == 404
    monkeypatch.setenv("PORTAL_ENV", "development")
    monkeypatch.setenv("PORTAL_DEV_PAGES", "0")
    assert create_app({"CLIENTS": fakes}).test_client().get("/dev/mail").status_code == 404


def test_english_catalogue_translates_every_text():
    """No Hungarian text leaks into the English pages: every msgid in the code and templates has a msgstr."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[1] / "src" / "gateway"
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2),
                "lazy_ngettext": (1, 2)}
    ids = {msg for _f, _l, msg, _c, _x in extract_from_dir(str(root), method_map, keywords=keywords)}
    assert any(isinstance(m, tuple) for m in ids)  # the plurals (ngettext) are checked too
    with (root / "translations" / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)

    def translated(msgid) -> bool:
        entry = catalog.get(msgid[0] if isinstance(msgid, tuple) else msgid)
        if entry is None or entry.fuzzy:  # a fuzzy entry is never compiled into the .mo
            return False
        if isinstance(msgid, tuple):
            return isinstance(entry.string, tuple) and all(entry.string)
        return bool(entry.string)

    missing = sorted(str(m) for m in ids if not translated(m))
    assert not missing, "add English for: " + "; ".join(missing)


def _locked(client, threshold, hours, lang="hu"):
    """The locked page as identity's 423 answer words it."""
    from gateway.clients.http import Locked

    client.application.extensions["clients"].identity.fail["login"] = Locked("identity", 423, {
        "error": "locked", "locked_until": "2026-11-22T13:05:00+00:00", "lockout_threshold": threshold,
        "lockout_hours": hours})
    client.post("/login", data={"username": "anna", "password": "wrong"})
    return text(client.get(f"/locked?lang={lang}"))


def test_lockout_and_validity_numbers_come_from_identity(fakes):
    fakes.identity.rules_answer = {"lockout_threshold": 5, "lockout_hours": 12, "activation_ttl_hours": 48,
                                   "otp_ttl_hours": 6, "session_idle_minutes": 30, "password_min_length": 16}
    client = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False}).test_client()

    html = _locked(client, 5, 12)
    assert "Egymás után 5 alkalommal hibás jelszót adtak meg" in html and "12 órára zároltuk" in html
    assert "Ha egymás után 5 alkalommal hibás jelszót adnak meg, a hozzáférést 12 órára zároljuk." in text(
        client.get("/login"))
    html = text(client.get("/help"))
    assert '<strong id="manual-lock-threshold">5 alkalommal</strong>' in html
    assert '<strong id="manual-lock-hours">12 órára zároljuk</strong>' in html
    assert "48 óráig" in html and "6 óráig" in html and "30 perc tétlenség" in html and "legalább 16 karakter" in html
    for number in ("24 ", "15 perc", "12 karakter"):
        assert number not in html, number
    assert "48 óráig" in text(client.get("/register/sent"))
    assert "6 óráig" in text(client.get("/forgotten/sent"))
    from gateway.clients.http import Gone

    fakes.identity.fail["activate"] = Gone("identity", 410, {"error": "expired"})
    assert "Ez a link lejárt (48 óráig érvényes)" in text(client.post("/activate/old-token"))

    html = text(client.get("/help?lang=en"))
    assert '<strong id="manual-lock-threshold">5</strong>' in html
    assert '<strong id="manual-lock-hours">locked for 12 hours</strong>' in html
    assert "valid for <strong>48 hours</strong>" in html and "valid for 6 hours" in html
    assert "30 minutes without activity" in html and "at least 16 characters" in html
    html = _locked(client, 5, 12, lang="en")
    assert "The number of wrong passwords in a row reached 5" in html and "locked access for 12 hours" in html


def test_english_uses_the_singular_for_one(fakes):
    fakes.identity.rules_answer.update(lockout_hours=1, activation_ttl_hours=1)
    client = create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False}).test_client()
    assert "locked access for 1 hour." in _locked(client, 3, 1, lang="en")
    assert "valid for 1 hour and can be used once" in text(client.get("/register/sent"))
    assert "locked for 1 hour</strong>" in text(client.get("/help"))


def test_closing_says_access_ends_documents_go_by_post_and_registering_again_needs_the_declaration(logged_in, fakes):
    fakes.identity.add_declaration("C-1")
    html = text(logged_in.get("/account"))
    close = html[html.index('id="profile-close"'):]
    for needle in ("véget ér a hozzáférése", "itt már nem éri el", "ismét postán küldjük", "újra regisztrálhat",
                   "ismét nyilatkoznia kell"):
        assert needle in close, needle
    logged_in.post("/account/close", data={"password": "correct horse battery"})
    assert fakes.identity.declarations["C-1"]["active"] is False  # identity withdraws it with the closing
    html = text(logged_in.get("/account/closed"))
    for needle in ("már nem tud belépni", "itt már nem éri el", "ismét postán küldjük", "újra regisztrálhat",
                   "ismét meg kell tennie a nyilatkozatot", 'href="/register"'):
        assert needle in html, needle
    html = text(logged_in.get("/account/closed?lang=en"))
    assert "by post again" in html and "may register again" in html and "needs the declaration again" in html


def test_no_sentence_is_taken_over_from_the_seed_pages():
    """The product's rules come from two FAQ pages (../shared/seeds): the facts carry over, their sentences do not.
    No five consecutive words of a seed page appear in our Hungarian texts."""
    import re

    import pytest

    seeds = sorted((Path(__file__).resolve().parents[3] / "shared" / "seeds").glob("*.txt"))
    if not seeds:
        pytest.skip("the seed pages are not available here")

    def words(value: str) -> list[str]:
        return re.findall(r"[a-záéíóöőúüű0-9]+", re.sub(r"<[^>]+>", " ", value).lower())

    def grams(ws: list[str], n: int = 5) -> set[tuple]:
        return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}

    seed_grams = set().union(*(grams(words(p.read_text("utf-8"))) for p in seeds))
    root = Path(__file__).resolve().parents[1] / "src" / "gateway"
    copied = []
    for path in [*root.rglob("*.html"), *root.rglob("*.py")]:
        for lineno, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            common = grams(words(line)) & seed_grams
            if common:
                copied.append(f"{path.relative_to(root)}:{lineno}: {' '.join(sorted(common)[0])}")
    assert not copied, "rephrase in our own words: " + "; ".join(copied)
