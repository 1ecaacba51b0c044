"""Browser journeys of issue 12: "Kérdésem van", changing the e-mail address (link from the captured mail) and the
mobile number (code from the captured SMS), the language (Accept-Language, header switch, e-mails follow)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import uuid
import zipfile
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portal_common.testing import wait_until

from .accessibility import assert_accessible
from .test_journeys import FIRST_PASSWORD, change_password, login, register_and_activate

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.database, pytest.mark.slow]

EMESE = {"policy_number": "KGFB-500001", "name": "Példa Emese", "birth_name": "Kovács Emese",
         "birth_date": "1979-06-21", "birth_place": "Miskolc", "mother_name": "Tóth Judit",
         "email": "emese.pelda@example.org", "mobile": "06 30 555 1234", "e164": "+36305551234",
         "customer_id": "DEMO-C-1005"}
NEW_EMAIL, NEW_MOBILE, NEW_E164 = "emese.uj@example.org", "06 70 555 9876", "+36705559876"
EMESE_DOCUMENTS = ("5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e51", "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e52",
                   "5d0c1f6e-1a7b-4c5e-9e0a-0a1b2c3d4e53")  # seeded by the demo data
MANUAL_DIR = Path(__file__).resolve().parents[2] / "gateway" / "src" / "gateway" / "static" / "manual"


def manual_shot(page, name: str, selector: str = "main") -> None:
    """The user manual's pictures: taken only when asked (``make manual-screenshots``), never in a normal run, so
    no test run rewrites tracked files. A narrow window keeps the PNGs small and readable on a phone."""
    if os.environ.get("PORTAL_MANUAL_SCREENSHOTS") != "1":
        return
    MANUAL_DIR.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 640, "height": 900})
    try:
        page.locator(selector).first.screenshot(path=str(MANUAL_DIR / f"{name}.png"), scale="css",
                                                animations="disabled")
    finally:
        page.set_viewport_size(size)


def crm_messages(portal) -> list[tuple[str, dict]]:
    """What the insurer's contact centre received since the last look: the devstack's demo CRM consumes crm.events
    and keeps each message once, as ``var/crm/<message id>.json`` (what /dev/crm lists)."""
    seen = portal.__dict__.setdefault("crm_seen", set())
    new = []
    for path in sorted((portal.var / "crm").glob("*.json"), key=lambda p: p.stat().st_mtime):
        if path.name not in seen:
            seen.add(path.name)
            kept = json.loads(path.read_text("utf-8"))
            new.append((kept["event"], kept["payload"]))
    return new


def test_a_callback_request_is_confirmed_on_the_page_and_by_email_once(portal, page):
    page.goto(portal.url + "/")
    assert_accessible(page, "start page")
    page.click("#index-callback")
    page.wait_for_url("**/contact")
    assert_accessible(page, "Kérdésem van")
    page.fill("#name", "Visszahívó Vilma")
    page.fill("#phone", "123")  # too short: a red message under the field, the other values stay
    page.fill("#email", "vilma@example.org")
    page.select_option("#topic", "legal")
    page.fill("#message", "Jogi kérdésem van a kártérítésről.")
    page.select_option("#preferred_time", "morning")
    page.click("#submit")
    assert page.locator("#phone").get_attribute("aria-invalid") == "true"
    assert page.locator("#phone-error").inner_text().strip()
    assert page.input_value("#message") == "Jogi kérdésem van a kártérítésről."
    manual_shot(page, "contact-form-errors", "#callback-form")
    assert_accessible(page, "Kérdésem van with red messages")
    page.fill("#phone", "06 1 555 0199")
    form = {name: page.input_value(f"#{name}") for name in
            ("csrf_token", "idempotency_key", "name", "phone", "email", "policy_number", "message")}
    form.update(topic="legal", preferred_time="morning")
    page.click("#submit")
    page.wait_for_url("**/contact/sent")
    manual_shot(page, "contact-sent")
    assert_accessible(page, "callback confirmation")
    stated = page.inner_text("#callback-deadline")
    # The same form posted again (a reload, a double click): the same confirmation, no second request.
    again = page.request.post(portal.url + "/contact", form=form)
    assert again.ok and again.url.endswith("/contact/sent")

    mail = wait_until(lambda: portal.mails("vilma@example.org"), 30, message="the callback confirmation")[0]
    body = portal.text(mail)
    due = re.search(r"legkésőbb (\d{4}\. \w+ \d+\.)", body).group(1)
    assert due in stated  # the page and the e-mail state the same day
    received = wait_until(lambda: crm_messages(portal), 30, message="the CRM's message")
    assert [key for key, _ in received] == ["customer.callback_requested"]
    request = received[0][1]
    assert (request["phone"], request["topic"], request["preferred_time"]) == ("+3615550199", "legal", "morning")
    # two working days after the day the request arrived in Budapest (not the test machine's date: with TZ far east
    # of Budapest that is already the next day)
    arrived = datetime.fromisoformat(request["requested_at"]).astimezone(ZoneInfo("Europe/Budapest")).date()
    due_on = date.fromisoformat(request["due_on"])
    assert due_on.weekday() < 5 and (due_on - arrived).days >= 2
    assert len(portal.mails("vilma@example.org")) == 1 and crm_messages(portal) == []
    page.goto(portal.url + "/dev/crm")  # the developer sees what the contact centre received
    assert page.locator(".dev-event", has_text="customer.callback_requested").count() == 1
    assert "+3615550199" in page.inner_text("main")


def test_email_change_by_link_and_mobile_change_by_sms_code(portal, page):
    username = "emese." + uuid.uuid4().hex[:6]
    initial = register_and_activate(portal, page, EMESE, username)
    login(page, portal, username, initial)
    change_password(page, initial, FIRST_PASSWORD)

    # The logged-in pages that the first journeys built, checked the same way as the new ones.
    for path, label in (("/home", "home"), ("/policies", "my policies"), ("/documents", "my documents"),
                        (f"/documents/{EMESE_DOCUMENTS[0]}/print", "a document's print page"),
                        ("/account/password", "password change form")):
        page.goto(portal.url + path)
        assert page.url.endswith(path), f"{label}: landed on {page.url}"
        assert_accessible(page, label)

    # A logged-in customer finds "Kérdésem van" pre-filled.
    page.click("header >> text=Kérdésem van")
    assert_accessible(page, "Kérdésem van, logged in")
    assert page.input_value("#name") == EMESE["name"] and page.input_value("#email") == EMESE["email"]
    assert page.input_value("#policy_number").startswith(("KGFB-500001", "OTTHON-500002"))

    # E-mail: password first, then the link from the mail sent to the NEW address.
    page.goto(portal.url + "/account")
    page.click("#change-email")
    assert_accessible(page, "e-mail change form")
    page.fill("#email", NEW_EMAIL)
    page.fill("#password", "not-my-password-xyz")
    page.click("#submit")
    assert page.locator("#password-error").inner_text().strip()
    page.fill("#email", NEW_EMAIL)
    page.fill("#password", FIRST_PASSWORD)
    manual_shot(page, "email-change")
    assert_accessible(page, "e-mail change")
    page.click("#submit")
    page.wait_for_url("**/account/email/sent")
    assert_accessible(page, "e-mail link sent")
    mail = wait_until(lambda: portal.mails(NEW_EMAIL), 30, message="the confirmation link")[-1]
    link = re.search(r"https?://\S+/account/email/confirm/[\w\-]+", portal.text(mail)).group(0)
    page.goto(portal.url + "/account")
    assert page.inner_text("#profile-email") == EMESE["email"]  # not before the link
    page.goto(link)
    manual_shot(page, "email-confirm")
    assert_accessible(page, "e-mail confirmation link")
    page.click("#submit")
    assert NEW_EMAIL in page.inner_text("#email-changed")
    assert_accessible(page, "e-mail changed")
    notice = wait_until(lambda: [m for m in portal.mails(EMESE["email"]) if "e-mail-címe" in str(m["Subject"])
                                 or "megváltozott" in portal.text(m)], 30, message="the notice to the old address")
    assert NEW_EMAIL not in portal.text(notice[-1])  # only masked
    page.goto(portal.url + "/account")
    assert page.inner_text("#profile-email") == NEW_EMAIL

    # Mobile: password first, then the code from the SMS sent to the NEW number. The customer switches the pages to
    # English first: the switch is stored with the account, so the SMS comes in English.
    page.click("#change-mobile")
    assert_accessible(page, "mobile change")
    page.click("header #lang-en")
    assert page.get_attribute("html", "lang") == "en"
    page.fill("#mobile", NEW_MOBILE)
    page.fill("#password", FIRST_PASSWORD)
    page.click("#submit")
    page.wait_for_url("**/account/mobile/confirm")
    page.click("header #lang-hu")  # and back to Hungarian for the rest
    sms = wait_until(lambda: portal.sms(NEW_E164), 30, message="the code SMS")[-1]
    assert "code confirming your new mobile number" in sms["text"], sms["text"]
    code = re.search(r"\b(\d{6})\b", sms["text"]).group(1)
    page.fill("#code", code)
    manual_shot(page, "mobile-code")
    assert_accessible(page, "mobile code")
    page.click("#submit")
    page.wait_for_url("**/account")
    assert page.inner_text("#profile-mobile").endswith("9876")
    assert page.inner_text("#profile-language") == "Magyar"
    manual_shot(page, "account-contact", "section[aria-labelledby=profile-data]")
    assert_accessible(page, "my account")

    # Documents: sort, the delivery record, and all of them in one ZIP that holds each file byte for byte.
    page.goto(portal.url + "/documents")
    for document_id in EMESE_DOCUMENTS:
        assert page.locator(f"#doc-{document_id}").count() == 1
    originals = {}
    for document_id in EMESE_DOCUMENTS:
        response = page.request.get(portal.url + f"/documents/{document_id}/download")
        assert response.ok
        originals[document_id] = response.body()
    page.select_option("#sort", "policy")
    page.click("#filter")
    page.wait_for_url("**sort=policy**")
    rows = page.locator("tr.doc-row").evaluate_all("rows => rows.map(r => r.id)")
    assert rows.index(f"doc-{EMESE_DOCUMENTS[1]}") > rows.index(f"doc-{EMESE_DOCUMENTS[0]}")  # KGFB before OTTHON
    page.locator(f"#record-{EMESE_DOCUMENTS[0]} summary").click()
    assert "1 alkalommal" in page.inner_text(f"#record-{EMESE_DOCUMENTS[0]}")
    manual_shot(page, "documents-record")
    assert_accessible(page, "my documents, sorted, with a delivery record open")
    with page.expect_download() as download_info:
        page.click("#zip-all")
    download = download_info.value
    assert download.suggested_filename.startswith("dokumentumok-") and download.suggested_filename.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    assert archive.testzip() is None
    contents = sorted(hashlib.sha256(archive.read(n)).hexdigest() for n in archive.namelist())
    assert contents == sorted(hashlib.sha256(b).hexdigest() for b in originals.values())
    assert all(n.endswith(".pdf") and ("KGFB-500001" in n or "OTTHON-500002" in n) for n in archive.namelist())
    page.check(f"#select-{EMESE_DOCUMENTS[2]}")
    with page.expect_download() as download_info:
        page.click("#zip-selected")
    one = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert [one.read(n) for n in one.namelist()] == [originals[EMESE_DOCUMENTS[2]]]

    # Recovery now works with the new data only.
    page.click("#logout")
    page.goto(portal.url + "/forgotten")
    page.fill("#email", NEW_EMAIL)
    page.fill("#mobile", NEW_MOBILE)
    page.click("#submit")
    page.wait_for_url("**/forgotten/sent")
    page.goto(portal.url + "/help")
    assert_accessible(page, "the manual")
    wait_until(lambda: [m for m in portal.mails(NEW_EMAIL) if username in portal.text(m)], 30,
               message="the credentials e-mail at the new address")
    wait_until(lambda: len(portal.sms(NEW_E164)) >= 2, 30, message="the reset notice at the new number")
    changes = [body for key, body in crm_messages(portal) if key == "customer.contact_changed"
               and body["customer_id"] == EMESE["customer_id"]]
    assert sorted(c["changed"][0] for c in changes if c["changed"] != ["language"]) == ["email", "mobile"]


def test_an_english_browser_gets_english_and_the_header_switch_is_remembered(portal, browser):
    context = browser.new_context(locale="en-GB")
    try:
        page = context.new_page()
        page.goto(portal.url + "/")
        assert page.get_attribute("html", "lang") == "en"
        manual_shot(page, "language-switch", "header")
        assert_accessible(page, "start page in English")
        page.goto(portal.url + "/help")
        assert_accessible(page, "the manual in English")
        for path in ("/login", "/register", "/declaration", "/declaration/withdraw", "/forgotten", "/help/browsers",
                     "/contact", "/locked"):
            page.goto(portal.url + path)
            assert_accessible(page, path + " in English")
        page.goto(portal.url + "/")
        page.click("header #lang-hu")
        assert page.get_attribute("html", "lang") == "hu"
        page.goto(portal.url + "/help")
        assert page.get_attribute("html", "lang") == "hu"  # remembered, whatever the browser says
        assert page.request.get(portal.url + "/favicon.ico").headers["content-type"].startswith("image/")
    finally:
        context.close()
