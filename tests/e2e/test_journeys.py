"""Browser journeys through the gateway, on the whole portal (real RabbitMQ, PostgreSQL, SMTP, SMS gateway, S3)."""
from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import boto3
import pika
import pytest
from botocore.config import Config

from portal_common.testing import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.database, pytest.mark.slow]

ANNA = {"policy_number": "KGFB-100001", "name": "Minta Anna", "birth_name": "Példa Anna", "birth_date": "1985-04-12",
        "birth_place": "Szeged", "mother_name": "Kiss Mária", "email": "anna.minta@example.org",
        "mobile": "06 30 123 4567", "e164": "+36301234567"}
BELA = {"policy_number": "CASCO-200001", "name": "Teszt Béla", "birth_name": "Teszt Béla", "birth_date": "1972-11-30",
        "birth_place": "Debrecen", "mother_name": "Nagy Erzsébet", "email": "bela.teszt@example.org",
        "mobile": "+36 20 987 6543", "e164": "+36209876543", "customer_id": "DEMO-C-1002"}
FIRST_PASSWORD = "Napsütéses-Kert-2026"
SECOND_PASSWORD = "Hosszú-Őszi-Séta-77"


def fill_identification(page, who: dict) -> None:
    # Lower case and extra spaces on purpose: identification ignores them (accents must still match).
    page.fill("#policy_number", who["policy_number"])
    page.fill("#name", "  " + who["name"].lower() + " ")
    page.fill("#birth_name", who["birth_name"])
    page.fill("#birth_date", who["birth_date"])
    page.fill("#birth_place", who["birth_place"])
    page.fill("#mother_name", who["mother_name"])


def register_and_activate(portal, page, who: dict, username: str) -> str:
    """Registration -> activation link from the e-mail -> initial password from the SMS. Returns that password."""
    page.goto(portal.url + "/register")
    fill_identification(page, who)
    page.fill("#email", who["email"])
    page.fill("#mobile", who["mobile"])
    page.fill("#username", username)
    page.check("#accept_declaration")  # registering is also the declaration on electronic communication
    page.click("#submit")
    page.wait_for_url("**/register/sent")
    assert "spam" in page.content().lower()

    mail = wait_until(lambda: [m for m in portal.mails(who["email"]) if "/activate/" in portal.text(m)], 30,
                      message="the activation e-mail")[-1]
    link = re.search(r"https?://\S+/activate/[\w\-]+", portal.text(mail)).group(0)
    page.goto(link)
    page.click("#submit")  # the link only shows a confirm button: mail scanners prefetch links
    page.wait_for_url("**/activate/done")
    assert who["e164"][-4:] in page.inner_text("main")

    sms = wait_until(lambda: portal.sms(who["e164"]), 30, message="the initial password SMS")[-1]
    return re.search(r"jelszava[^:]*:\s*(\S+)", sms["text"]).group(1)


def login(page, portal, username: str, password: str) -> None:
    page.goto(portal.url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#submit")


def change_password(page, current: str, new: str) -> None:
    page.wait_for_url("**/account/password")
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#new_password_confirm", new)
    page.click("#submit")
    page.wait_for_url("**/home")


def test_declaration_registration_lockout_and_forgotten_credentials(portal, page):
    # Step 0: the declaration. An invalid field shows a red message under itself and keeps the other values.
    page.goto(portal.url + "/declaration")
    fill_identification(page, ANNA)
    page.fill("#email", "nem-egy-email-cim")
    page.check("#accept")
    page.click("#submit")
    email_field = page.locator("#email")
    assert email_field.get_attribute("aria-invalid") == "true"
    described_by = email_field.get_attribute("aria-describedby").split()
    message = page.locator("#" + next(i for i in described_by if "error" in i))
    assert message.inner_text().strip() and message.evaluate("e => getComputedStyle(e).color") == "rgb(176, 0, 32)"
    assert page.input_value("#birth_place") == ANNA["birth_place"]
    page.fill("#email", ANNA["email"])
    page.click("#submit")
    page.wait_for_url("**/declaration/done")

    # Step 1: registration, activation e-mail, initial password by SMS.
    username = "anna." + uuid.uuid4().hex[:6]
    initial = register_and_activate(portal, page, ANNA, username)

    # Step 2: the first login forces a new password.
    login(page, portal, username, initial)
    change_password(page, initial, FIRST_PASSWORD)
    assert username in page.inner_text("header") or "Minta" in page.inner_text("body")
    page.click("#logout")
    page.wait_for_url("**/login**")

    # Three wrong passwords: the third locks the account for 24 hours.
    for attempt in range(1, 4):
        login(page, portal, username, f"rossz-jelszo-{attempt}-xyz")
        if attempt < 3:
            page.locator("#error-summary").wait_for()  # the wrong-password message is shown (once the answer came)
            assert "/locked" not in page.url
    page.wait_for_url("**/locked**")
    until = (datetime.now(timezone.utc) + timedelta(hours=24)).astimezone(ZoneInfo("Europe/Budapest"))
    # Compare the instant the page states (its <time datetime>), not a formatted string: any hour, any zone.
    stated = datetime.fromisoformat(page.get_attribute("#locked-until time", "datetime"))
    assert abs((stated - until).total_seconds()) < 120, (stated, until)
    assert page.inner_text("#locked-until time").strip()  # and the customer reads it on the page
    wait_until(lambda: any("zárol" in portal.text(m).lower() for m in portal.mails(ANNA["email"])), 30,
               message="the lock notice e-mail")
    login(page, portal, username, FIRST_PASSWORD)  # even the right password is refused while locked
    page.wait_for_url("**/locked**")

    # Forgotten credentials: same page whatever was entered; the e-mail brings the username and a one-time password.
    page.goto(portal.url + "/forgotten")
    page.fill("#email", ANNA["email"])
    page.fill("#mobile", ANNA["mobile"])
    page.click("#submit")
    page.wait_for_url("**/forgotten/sent")
    answer_for_match = page.inner_text("main")
    reset = wait_until(lambda: [m for m in portal.mails(ANNA["email"]) if "Egyszer használható jelszó" in
                                portal.text(m)], 30, message="the credentials e-mail")[-1]
    text = portal.text(reset)
    assert username in text
    one_time = re.search(r"Egyszer használható jelszó:\s*(\S+)", text).group(1)
    wait_until(lambda: len(portal.sms(ANNA["e164"])) >= 2, 30, message="the reset notice SMS")
    assert one_time not in portal.sms(ANNA["e164"])[-1]["text"]

    page.goto(portal.url + "/forgotten")
    page.fill("#email", "senki@example.org")
    page.fill("#mobile", "06 70 000 0000")
    page.click("#submit")
    page.wait_for_url("**/forgotten/sent")
    assert page.inner_text("main") == answer_for_match

    # The one-time password lifts the lock and forces a new password.
    login(page, portal, username, one_time)
    change_password(page, one_time, SECOND_PASSWORD)
    page.click("#logout")
    login(page, portal, username, SECOND_PASSWORD)
    page.wait_for_url("**/home")


def test_new_document_is_announced_listed_downloaded_and_printed(portal, page):
    username = "bela." + uuid.uuid4().hex[:6]
    initial = register_and_activate(portal, page, BELA, username)
    login(page, portal, username, initial)
    change_password(page, initial, FIRST_PASSWORD)

    # The insurer's system: put the PDF into the inbox bucket, then announce it on the bus (raw boto3 + pika).
    pdf = b"%PDF-1.4\n% e2e\n" + uuid.uuid4().hex.encode() * 2000 + b"\n%%EOF\n"
    document_id, title = str(uuid.uuid4()), "Casco kötvény " + uuid.uuid4().hex[:4]
    offset = int(portal.env["PORTAL_DEVSTACK_PORT_OFFSET"])
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{9000 + offset}", aws_access_key_id="portal",
                      aws_secret_access_key="portal-secret", region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    key = f"inbox/{document_id}.pdf"
    s3.put_object(Bucket="portal-inbox", Key=key, Body=pdf, ContentType="application/pdf")
    event = {"document_id": document_id, "policy_number": BELA["policy_number"], "customer_id": BELA["customer_id"],
             "doc_type": "policy_schedule", "title": title,
             "uploaded_at": datetime.now(timezone.utc).isoformat(), "bucket": "portal-inbox", "key": key,
             "content_type": "application/pdf", "size": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()}
    amqp = portal.env["PORTAL_AMQP_URL"]
    connection = pika.BlockingConnection(pika.URLParameters(amqp[:-1] + "%2F" if amqp.endswith("//") else amqp))
    channel = connection.channel()
    channel.confirm_delivery()
    namespace = portal.env["PORTAL_BUS_NAMESPACE"]

    def publish_uploaded():  # each call is a new message (new message id) about the same document
        channel.basic_publish(f"{namespace}.portal", "document.uploaded", json.dumps(event),
                              pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2,
                                                   content_type="application/json"), mandatory=True)

    publish_uploaded()
    # The customer is told by e-mail, and sees it on the home page with the unread count.
    notice = wait_until(lambda: [m for m in portal.mails(BELA["email"]) if title in portal.text(m)], 40,
                        message="the new-document e-mail")
    assert BELA["policy_number"] in portal.text(notice[0])

    # The insurer's system sends the same document again: still one document, still one e-mail.
    publish_uploaded()

    def drained():
        depths = [channel.queue_declare(f"{namespace}.{name}.events", passive=True).method.message_count
                  for name in ("documents", "notify")]
        return depths == [0, 0]

    wait_until(drained, 30, message="documents and notify queues drained")
    time.sleep(3)  # let notify's delivery loop send anything it might have queued
    connection.close()
    assert len([m for m in portal.mails(BELA["email"]) if title in portal.text(m)]) == 1
    page.goto(portal.url + "/home")
    assert title in page.inner_text("main")
    assert int(page.inner_text("#unread-count").strip().split()[0]) >= 1

    page.goto(portal.url + "/documents")
    assert page.locator(f"#doc-{document_id}").count() == 1
    row = page.locator(f"#doc-{document_id}")
    assert title in row.inner_text()
    with page.expect_download() as download_info:
        row.locator("a[href$='/download']").click()
    download = download_info.value
    assert hashlib.sha256(open(download.path(), "rb").read()).hexdigest() == event["sha256"]

    page.goto(portal.url + f"/documents/{document_id}/print")
    frame = page.locator("iframe, embed, object").first
    assert frame.get_attribute("src") or frame.get_attribute("data")
    response = page.request.get(portal.url + f"/documents/{document_id}/view")
    assert response.status == 200 and response.headers["content-type"].startswith("application/pdf")
    assert response.headers["content-disposition"].startswith("inline")

    # Terminating the registration (confirmed with the password): the portal access ends, the documents with it,
    # and the declaration is withdrawn, so documents go by post again.
    page.goto(portal.url + "/account")
    page.fill("#password", FIRST_PASSWORD)
    page.click("#close-submit")
    page.wait_for_url("**/account/closed")
    assert page.request.get(portal.url + f"/documents/{document_id}/download", max_redirects=0).status in (302, 303)
    login(page, portal, username, FIRST_PASSWORD)
    page.locator("#error-summary").wait_for()  # the answer came: refused
    assert "/home" not in page.url
    wait_until(lambda: len(portal.mails(BELA["email"])) >= 4, 30, message="the closing and withdrawal e-mails")


DENES = {"policy_number": "KGFB-400001", "name": "Demó Dénes", "birth_name": "Demó Dénes", "birth_date": "1968-08-20",
         "birth_place": "Győr", "mother_name": "Varga Katalin", "email": "denes.demo@example.org",
         "mobile": "06 70 123 0000", "e164": "+36701230000"}


def test_undeliverable_initial_password_sms_is_reported_to_the_user(portal, page):
    """The SMS gateway refuses the number: notify records the permanent failure and publishes it, identity marks
    the account, and the page tells the user to call the telephone service."""
    page.goto(portal.url + "/register")
    fill_identification(page, DENES)
    page.fill("#email", DENES["email"])
    page.fill("#mobile", DENES["mobile"])
    page.fill("#username", "denes." + uuid.uuid4().hex[:6])
    page.check("#accept_declaration")
    page.click("#submit")
    page.wait_for_url("**/register/sent")
    mail = wait_until(lambda: [m for m in portal.mails(DENES["email"]) if "/activate/" in portal.text(m)], 30,
                      message="the activation e-mail")[-1]
    page.goto(re.search(r"https?://\S+/activate/[\w\-]+", portal.text(mail)).group(0))
    page.click("#submit")
    page.wait_for_url("**/activate/done")

    def reported():
        page.reload()
        return page.locator("#sms-failed").count() == 1

    wait_until(reported, 60, interval=1, message="the SMS failure on the page")
    assert "+36 1 555 0100" in page.inner_text("#sms-failed")
    assert portal.sms(DENES["e164"]) == []  # nothing was delivered


CSILLA = {"policy_number": "EGYEB-300001", "name": "Próba Csilla", "birth_name": "Próba Csilla",
          "birth_date": "1990-02-03", "birth_place": "Pécs", "mother_name": "Szabó Ilona",
          "email": "csilla.proba@example.org"}


def test_a_declaration_can_be_withdrawn_without_ever_registering(portal, page):
    page.goto(portal.url + "/declaration")
    fill_identification(page, CSILLA)
    page.fill("#email", CSILLA["email"])
    page.check("#accept")
    page.click("#submit")
    page.wait_for_url("**/declaration/done")
    wait_until(lambda: portal.mails(CSILLA["email"]), 30, message="the declaration's confirmation e-mail")

    def withdraw():
        page.goto(portal.url + "/declaration/withdraw")
        fill_identification(page, CSILLA)
        page.check("#confirm")
        page.click("#submit")

    withdraw()
    page.wait_for_url("**/declaration/withdrawn")
    wait_until(lambda: len(portal.mails(CSILLA["email"])) >= 2, 30, message="the withdrawal e-mail")
    withdraw()  # nothing left to withdraw: said so, nothing sent
    assert "/declaration/withdrawn" not in page.url and page.locator("[role=alert]").count() >= 1
