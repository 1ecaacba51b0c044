"""The gateway's cache on the whole portal: what a customer sees again is never older than what the services say.

The e2e stack runs its gateway with the cache's bounds at 10 minutes (conftest.py), so everything here can only pass
through the services' events on real RabbitMQ reaching every gateway process: a session ended in one browser ends
in every other, a new document and a changed policy show on a page that was shown (and kept) before.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime, timezone

import boto3
import pika
import pytest
from botocore.config import Config

from portal_common.testing import wait_until

from .test_journeys import change_password, login, register_and_activate

pytestmark = [pytest.mark.browser, pytest.mark.broker, pytest.mark.database, pytest.mark.slow]

PASSWORD = "Gyors-Oldal-Friss-2026"
NEW_PASSWORD = "Masik-Oldal-Friss-2027"


class Core:
    """The insurer's core system: publishes on the stack's bus, puts PDFs into its inbox."""

    def __init__(self, portal) -> None:
        amqp = portal.env["PORTAL_AMQP_URL"]
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp[:-1] + "%2F" if amqp.endswith("//")
                                                                     else amqp))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.exchange = f"{portal.env['PORTAL_BUS_NAMESPACE']}.portal"
        offset = int(portal.env["PORTAL_DEVSTACK_PORT_OFFSET"])
        self.s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{9000 + offset}", aws_access_key_id="portal",
                               aws_secret_access_key="portal-secret", region_name="us-east-1",
                               config=Config(s3={"addressing_style": "path"}))

    def publish(self, event: str, body: dict) -> None:
        self.channel.basic_publish(self.exchange, event, json.dumps(body),
                                   pika.BasicProperties(message_id=str(uuid.uuid4()), delivery_mode=2,
                                                        content_type="application/json", type=event,
                                                        headers={"event": event, "version": 1}), mandatory=True)

    def policy(self, holder: dict, number: str, product: str, payment: str, amount: int) -> None:
        self.publish("policy.upserted", {
            "policy_number": number, "product": product, "status": "active", "payment_method": payment,
            "premium": {"amount": amount, "frequency": "annual"}, "start_date": "2025-01-01",
            "policyholder": holder, "updated_at": datetime.now(timezone.utc).isoformat()})

    def document(self, customer_id: str, policy_number: str, title: str) -> None:
        pdf = b"%PDF-1.4\n% cache e2e\n" + uuid.uuid4().hex.encode() * 100 + b"\n%%EOF\n"
        document_id = str(uuid.uuid4())
        key = f"inbox/{document_id}.pdf"
        self.s3.put_object(Bucket="portal-inbox", Key=key, Body=pdf, ContentType="application/pdf")
        self.publish("document.uploaded", {
            "document_id": document_id, "customer_id": customer_id, "policy_number": policy_number,
            "doc_type": "policy_schedule", "title": title, "uploaded_at": datetime.now(timezone.utc).isoformat(),
            "bucket": "portal-inbox", "key": key, "content_type": "application/pdf", "size": len(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest()})

    def close(self) -> None:
        self.connection.close()


@pytest.fixture()
def customer(portal, browser):
    """A new policyholder with a motor liability policy, registered and logged in (password changed) in ``page``."""
    suffix = uuid.uuid4().hex[:6]
    who = {"policy_number": f"KGFB-C{suffix}".upper(), "name": "Gyors Gizella", "birth_name": "Gyors Gizella",
           "birth_date": "1990-02-03", "birth_place": "Pécs", "mother_name": "Lassú Lenke",
           "email": f"gizella.{suffix}@example.org", "mobile": f"+36 30 55{int(suffix, 16) % 100000:05d}",
           "customer_id": f"E2E-C-{suffix}"}
    who["e164"] = "+" + re.sub(r"\D", "", who["mobile"])
    holder = {"customer_id": who["customer_id"], "name": who["name"], "birth_name": who["birth_name"],
              "birth_date": who["birth_date"], "birth_place": who["birth_place"], "mother_name": who["mother_name"],
              "email": who["email"], "mobile": who["e164"]}
    core = Core(portal)
    core.policy(holder, who["policy_number"], "kgfb", "bank_transfer", 41000)
    contexts = []

    def new_page():
        context = browser.new_context(locale="hu-HU")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        return page

    page = new_page()
    username = f"gizella{suffix}"
    initial = wait_until(lambda: _try_register(portal, page, who, username), 60,
                         message="the new policyholder's registration")
    login(page, portal, username, initial)
    change_password(page, initial, PASSWORD)
    yield {"who": who, "holder": holder, "username": username, "page": page, "new_page": new_page, "core": core}
    core.close()
    for context in contexts:
        context.close()


def _try_register(portal, page, who, username):
    try:
        return register_and_activate(portal, page, who, username)
    except Exception:  # the policy may not have reached identity yet: the form says it does not know it
        return None


def _home(page, portal) -> str:
    page.goto(portal.url + "/home")
    return page.url


def test_a_session_ended_in_one_browser_ends_in_every_other_through_the_bus(portal, customer):
    first, second = customer["page"], customer["new_page"]()
    login(second, portal, customer["username"], PASSWORD)
    second.wait_for_url("**/home")
    for _ in range(6):  # both sessions seen, and kept, by the gateway's processes
        assert _home(first, portal).endswith("/home") and _home(second, portal).endswith("/home")

    # A password change in the first browser ends the second one's session (identity: account.sessions_ended)
    first.goto(portal.url + "/account/password")
    first.fill("#current_password", PASSWORD)
    first.fill("#new_password", NEW_PASSWORD)
    first.fill("#new_password_confirm", NEW_PASSWORD)
    first.click("#submit")
    first.wait_for_url("**/home")
    wait_until(lambda: "/login" in _home(second, portal), 20, message="the second browser's session to end")
    assert _home(first, portal).endswith("/home")  # the browser that changed it stays logged in

    # A cookie copied before logging out opens nothing afterwards, whichever gateway process gets it
    cookies = first.context.cookies()
    thief = customer["new_page"]()
    thief.context.add_cookies(cookies)
    for _ in range(4):
        assert _home(thief, portal).endswith("/home")
    first.goto(portal.url + "/home")
    first.click("#logout")
    first.wait_for_url("**/login")
    wait_until(lambda: "/login" in _home(thief, portal), 20, message="the copied cookie to stop working")
    for _ in range(4):
        assert "/login" in _home(thief, portal)


def test_a_new_document_and_a_changed_policy_show_on_pages_seen_before(portal, customer):
    page, who, core = customer["page"], customer["who"], customer["core"]
    for _ in range(4):
        page.goto(portal.url + "/home")
        page.goto(portal.url + "/policies")
    assert re.search(r"41\s?000", page.inner_text("main"))  # the premium, 41 000 Ft

    title = "Friss kötvény " + uuid.uuid4().hex[:4]
    core.document(who["customer_id"], who["policy_number"], title)

    def listed():
        page.goto(portal.url + "/home")
        return title in page.inner_text("main")

    wait_until(listed, 40, message="the new document on the home page")

    core.policy(customer["holder"], who["policy_number"], "kgfb", "bank_transfer", 47500)

    def changed():
        page.goto(portal.url + "/policies")
        return re.search(r"47\s?500", page.inner_text("main"))

    wait_until(changed, 40, message="the changed premium on the policies page")
