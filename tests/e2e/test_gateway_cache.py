"""The gateway's cache on the whole portal: what a customer sees again is never older than what the services say.

The e2e stack runs its gateway with the cache's bounds at 10 minutes (conftest.py), and these tests start a second
gateway process on the same services: a change made through the first one, or by the core system, reaches the
second one only through the services' events on real RabbitMQ. So a session ended in one browser ends in every
other, and a new document, its delivery record (announced, downloaded) and a changed policy show on a page that was
shown (and kept) before.
"""
from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pika
import pytest
from botocore.config import Config

from portal_common.testing import wait_until

from .conftest import ROOT, _ready, stop_group
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

    def document(self, customer_id: str, policy_number: str, title: str) -> str:
        pdf = b"%PDF-1.4\n% cache e2e\n" + uuid.uuid4().hex.encode() * 100 + b"\n%%EOF\n"
        document_id = str(uuid.uuid4())
        key = f"inbox/{document_id}.pdf"
        self.s3.put_object(Bucket="portal-inbox", Key=key, Body=pdf, ContentType="application/pdf")
        self.publish("document.uploaded", {
            "document_id": document_id, "customer_id": customer_id, "policy_number": policy_number,
            "doc_type": "policy_schedule", "title": title, "uploaded_at": datetime.now(timezone.utc).isoformat(),
            "bucket": "portal-inbox", "key": key, "content_type": "application/pdf", "size": len(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest()})
        return document_id

    def close(self) -> None:
        try:
            self.connection.close()
        except pika.exceptions.AMQPError:  # idle past the broker's heartbeat while a failing test waited
            pass


@pytest.fixture(scope="module")
def second_gateway(portal):
    """Another gateway process (its own gunicorn, 1 worker, its own feed) on the same services: its URL."""
    offset = int(portal.env["PORTAL_DEVSTACK_PORT_OFFSET"])
    port, ops_port = 8097 + offset, 9197 + offset
    url = f"http://127.0.0.1:{port}"
    env = {**portal.env, "PORTAL_API_PORT": str(port), "PORTAL_API_HOST": "127.0.0.1", "PORTAL_PUBLIC_URL": url,
           "PORTAL_HEALTH_PORT": str(ops_port), "PORTAL_HEALTH_HOST": "127.0.0.1", "PORTAL_GATEWAY_WORKERS": "1",
           "PROMETHEUS_MULTIPROC_DIR": str(portal.var / "prometheus-second-gateway"),
           **{f"PORTAL_{name.upper()}_URL": f"http://127.0.0.1:{base + offset}"
              for name, base in {"identity": 8101, "policies": 8102, "documents": 8103, "notify": 8104}.items()}}
    log = open(portal.var / "second-gateway.log", "wb")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-c", str(ROOT / "gateway" / "gunicorn.conf.py"), "gateway.app:create_app()"],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: proc.poll() is None and _ready(url), 60,
                   message=f"the second gateway (log: {portal.var / 'second-gateway.log'})")
        wait_until(lambda: "portal_gateway_feed_live 1.0" in _metrics(ops_port), 60,
                   message="the second gateway's feed to be live")
        yield url
    finally:
        stop_group(proc, signal.SIGTERM, 30)
        log.close()


def _metrics(port: int) -> str:
    import requests

    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return ""
    return "\n".join(re.sub(r"\{[^}]*\}", "", line) for line in text.splitlines()
                     if line.startswith("portal_gateway_feed_live"))


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
    from playwright.sync_api import TimeoutError as PageTimeout

    try:
        return register_and_activate(portal, page, who, username)
    except PageTimeout:  # the policy had not reached identity yet: the form stayed, saying it does not know it
        return None


def _home(page, url: str) -> str:
    page.goto(url + "/home")
    return page.url


class At:
    def __init__(self, url: str) -> None:
        self.url = url


def test_a_session_ended_in_one_browser_ends_in_every_other_through_the_bus(portal, customer, second_gateway):
    first, second = customer["page"], customer["new_page"]()
    elsewhere = At(second_gateway)  # the second browser uses the second gateway
    login(second, elsewhere, customer["username"], PASSWORD)
    second.wait_for_url("**/home")
    for _ in range(3):  # the second session seen, and kept, by the second gateway
        assert _home(second, second_gateway).endswith("/home")

    # A password change in the first browser ends the second one's session (identity: account.sessions_ended)
    first.goto(portal.url + "/account/password")
    first.fill("#current_password", PASSWORD)
    first.fill("#new_password", NEW_PASSWORD)
    first.fill("#new_password_confirm", NEW_PASSWORD)
    first.click("#submit")
    first.wait_for_url("**/home")
    wait_until(lambda: "/login" in _home(second, second_gateway), 20,
               message="the second browser's session to end on the second gateway")
    assert _home(first, portal.url).endswith("/home")  # the browser that changed it stays logged in

    # A cookie copied before logging out opens nothing afterwards, on the other gateway either
    thief = customer["new_page"]()
    thief.context.add_cookies(first.context.cookies())
    for _ in range(3):
        assert _home(thief, second_gateway).endswith("/home")
    first.goto(portal.url + "/home")
    first.click("#logout")
    first.wait_for_url("**/login")
    wait_until(lambda: "/login" in _home(thief, second_gateway), 20, message="the copied cookie to stop working")


def test_a_new_document_its_delivery_record_and_a_changed_policy_show_on_pages_seen_before(portal, customer, second_gateway):
    page, who, core = customer["page"], customer["who"], customer["core"]
    for url in (portal.url, second_gateway):  # one host, two ports: the browser sends the same cookie to both
        for _ in range(2):
            page.goto(url + "/home")
            page.goto(url + "/policies")
    assert re.search(r"41\s?000", page.inner_text("main"))  # the premium, 41 000 Ft

    title = "Friss kötvény " + uuid.uuid4().hex[:4]
    document_id = core.document(who["customer_id"], who["policy_number"], title)

    def listed(url: str):
        page.goto(url + "/home")
        return title in page.inner_text("main")

    for url in (portal.url, second_gateway):
        wait_until(lambda: listed(url), 40, message=f"the new document on the home page of {url}")

    # Its delivery record on the second gateway's documents page, seen (and kept) before anything is recorded
    def record(which: str) -> str:
        page.goto(second_gateway + "/documents")
        return " ".join(page.text_content(f"#record-{document_id} .record-{which}").split())

    assert record("opened") == record("downloaded") == "még nem"
    # notify e-mails the announcement; documents records when it went out (document.delivery_recorded)
    wait_until(lambda: record("announced") != "még nem ment ki", 60,
               message="the announcement in the delivery record on the second gateway")
    # Opened in the browser through the first gateway: the first read (document.read too)
    assert page.request.get(portal.url + f"/documents/{document_id}/view").ok
    wait_until(lambda: record("opened") != "még nem", 40, message="the first view on the second gateway")
    # Downloaded through the first gateway, read already: only the delivery record changes, and the second
    # gateway's kept page shows it at once, not after 10 minutes
    assert record("downloaded") == record("downloaded") == "még nem"
    assert page.request.get(portal.url + f"/documents/{document_id}/download").ok
    wait_until(lambda: record("downloaded").startswith("1 alkalommal"), 40,
               message="the download in the delivery record on the second gateway")

    core.policy(customer["holder"], who["policy_number"], "kgfb", "bank_transfer", 47500)

    def changed(url: str):
        page.goto(url + "/policies")
        return re.search(r"47\s?500", page.inner_text("main"))

    for url in (portal.url, second_gateway):
        wait_until(lambda: changed(url), 40, message=f"the changed premium on the policies page of {url}")
