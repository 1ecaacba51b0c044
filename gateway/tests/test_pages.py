"""Public pages, language switch, error pages (HTML or JSON), security headers, health, dev pages."""
from __future__ import annotations

import time
from pathlib import Path

from gateway.app import create_app

from .conftest import text


def test_public_pages_render(client):
    for path, needle in [("/", "három lépésben"), ("/help", "24 órára zároljuk"), ("/help/browsers", "Safari"),
                         ("/declaration", "Nyilatkozat"), ("/register", "Regisztráció"), ("/login", "Bejelentkezés"),
                         ("/forgotten", "Elfelejtett"), ("/locked", "zárolva")]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert needle in text(response), path
        assert "+36 1 555 0100" in text(response)  # the footer's telephone service


def test_manual_covers_the_rules(client):
    html = text(client.get("/help"))
    for needle in ("13 hónapig", "eredetinek", "levélszemét", "Promóciók", "24 órára zároljuk", "piros üzenet",
                   "elfelejtett adatok"):
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


def test_health_endpoints(client, fakes):
    assert client.get("/healthz").json == {"status": "alive"}
    fakes.documents.down = True
    response = client.get("/readyz")
    assert response.status_code == 200  # a service being down never takes the gateway out
    assert response.json["services"]["documents"].startswith("unreachable")
    assert response.json["services"]["identity"] == "ok"
    assert b"portal_http_requests_total" in client.get("/metrics").data


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


def test_dev_pages_are_off_in_production(monkeypatch, fakes):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PORTAL_SERVICE_TOKEN", "t")
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
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    ids = {msg for _f, _l, msg, _c, _x in extract_from_dir(str(root), method_map, keywords=keywords)}
    with (root / "translations" / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    missing = sorted(m for m in ids if not (catalog.get(m) and catalog.get(m).string))
    assert not missing, "add English for: " + "; ".join(missing)
