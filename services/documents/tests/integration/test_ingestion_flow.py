"""An internal system (raw boto3 + pika) uploads and announces documents; the real worker ingests them."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from dateutil.relativedelta import relativedelta
from sqlalchemy import create_engine, text

from portal_common.testing import caller_headers, wait_until

from .conftest import pika_url

pytestmark = [pytest.mark.broker, pytest.mark.database, pytest.mark.slow]
TOKEN = caller_headers()


def pdf(label: str) -> bytes:
    return (b"%PDF-1.4\n% " + label.encode() + b"\n" + os.urandom(50_000) + b"\n%%EOF\n")


def policy(policy_number: str, customer_id: str) -> dict:
    return {"policy_number": policy_number, "product": "kgfb", "status": "active", "payment_method": "bank_transfer",
            "premium": {"amount": 48600, "frequency": "quarterly"}, "start_date": "2024-03-01",
            "policyholder": {"customer_id": customer_id, "name": "Minta Anna", "birth_name": "Példa Anna",
                             "birth_date": "1985-07-14", "birth_place": "Debrecen", "mother_name": "Teszt Mária",
                             "email": "anna@example.com", "mobile": "+36301234567"},
            "updated_at": datetime.now(timezone.utc).isoformat()}


def upload(stack, data: bytes, customer_id: str, policy_number: str, *, uploaded_at=None, checksum=True, **over):
    """Like the core system: put the PDF into the inbox bucket, then return the document.uploaded event."""
    document_id = str(uuid.uuid4())
    key = f"inbox/{document_id}.pdf"
    stack.s3.put_object(Bucket="portal-inbox", Key=key, Body=data, ContentType="application/pdf",
                        **({"ChecksumAlgorithm": "SHA256"} if checksum else {}))
    event = {"document_id": document_id, "policy_number": policy_number, "customer_id": customer_id,
             "doc_type": "premium_notice", "title": "Díjértesítő", "bucket": "portal-inbox", "key": key,
             "uploaded_at": (uploaded_at or datetime.now(timezone.utc)).isoformat(), "content_type": "application/pdf",
             "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    event.update(over)
    return event


def wait_for(predicate, timeout=20.0, what="condition"):
    return wait_until(predicate, timeout, message=what)


def listed(stack, customer_id, document_id):
    got = stack.api.get(f"/internal/customers/{customer_id}/documents", headers=TOKEN).get_json()
    return next((d for d in got["documents"] if d["document_id"] == document_id), None)


def outbox_rows(stack, event: str, document_id: str) -> list:
    """The outbox rows of ``event`` about ``document_id``: ``published_at``, ``attempts``."""
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT published_at, attempts FROM outbox WHERE event = :e AND payload LIKE :p"),
                                {"e": event, "p": f'%"{document_id}"%'}).all()
    finally:
        engine.dispose()


def outbox_count(stack, document_id) -> int:
    return len(outbox_rows(stack, "document.available", document_id))


def inbox_has(stack, key) -> bool:
    return stack.s3.list_objects_v2(Bucket="portal-inbox", Prefix=key).get("KeyCount", 0) > 0


@pytest.fixture(scope="module")
def customer(stack):
    customer_id, policy_number = f"C-{uuid.uuid4().hex[:8]}", f"KGFB-{uuid.uuid4().hex[:8]}"
    stack.publish("policy.upserted", policy(policy_number, customer_id))
    return customer_id, policy_number


@pytest.fixture(scope="module")
def announced(stack):
    """A queue of our own on <ns>.portal for document.available, bound before anything is ingested."""
    import pika

    queue = f"{stack.namespace}.test.document_available"
    conn = pika.BlockingConnection(pika.URLParameters(pika_url(stack.amqp_url)))
    channel = conn.channel()
    channel.queue_declare(queue, durable=False, auto_delete=False)
    channel.queue_bind(queue, f"{stack.namespace}.portal", "document.available")
    conn.close()
    yield queue
    conn = pika.BlockingConnection(pika.URLParameters(pika_url(stack.amqp_url)))
    conn.channel().queue_delete(queue)
    conn.close()


def test_lifecycle_rule_on_the_documents_bucket(stack):
    rules = stack.s3.get_bucket_lifecycle_configuration(Bucket="portal-documents")["Rules"]
    assert [(r["Status"], r["Expiration"]["Days"]) for r in rules] == [("Enabled", 398)]


@pytest.mark.parametrize("checksum", [True, False], ids=["stored-checksum", "no-stored-checksum"])
def test_uploaded_document_is_listed_downloadable_and_announced_once(stack, customer, announced, checksum):
    customer_id, policy_number = customer
    data = pdf("happy")
    event = upload(stack, data, customer_id, policy_number, checksum=checksum)
    stack.publish("document.uploaded", event)
    doc = wait_for(lambda: listed(stack, customer_id, event["document_id"]), what="the document in the list")
    assert doc["expired"] is False and doc["read"] is False and doc["size"] == len(data)
    got = stack.api.get(f"/internal/customers/{customer_id}/documents/{event['document_id']}/content", headers=TOKEN)
    assert got.status_code == 200
    assert hashlib.sha256(got.data).hexdigest() == event["sha256"] == got.headers["X-Document-SHA256"]
    assert wait_for(lambda: not inbox_has(stack, event["key"]), what="the inbox copy to go")
    assert outbox_count(stack, event["document_id"]) == 1
    _props, body = stack.get_message(announced)
    assert json.loads(body)["document_id"] == event["document_id"]

    # The same event again (new message id) and the same message again: still one document, one announcement.
    first = stack.publish("document.uploaded", event)
    stack.publish("document.uploaded", event, message_id=first)
    marker = upload(stack, pdf("marker"), customer_id, policy_number)  # processed after the duplicates
    stack.publish("document.uploaded", marker)
    wait_for(lambda: listed(stack, customer_id, marker["document_id"]), what="the marker document")
    all_docs = stack.api.get(f"/internal/customers/{customer_id}/documents?limit=500", headers=TOKEN).get_json()
    assert [d["document_id"] for d in all_docs["documents"]].count(event["document_id"]) == 1
    assert outbox_count(stack, event["document_id"]) == 1
    assert stack.api.get(f"/internal/customers/{customer_id}/documents/{event['document_id']}",
                         headers=TOKEN).get_json()["read"] is True
    ids = [json.loads(stack.get_message(announced)[1])["document_id"]]
    assert ids == [marker["document_id"]]  # nothing for the duplicate in between


def dead_lettered(stack) -> dict[str, float]:
    """``portal_messages_dead_lettered_total`` of the worker for document.uploaded, by reason label."""
    from prometheus_client.parser import text_string_to_metric_families

    port = stack.env["PORTAL_HEALTH_PORT"]
    text_ = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text_):
        for s in family.samples:
            if (s.name == "portal_messages_dead_lettered_total" and s.labels.get("service") == "documents"
                    and s.labels.get("event") == "document.uploaded"):
                found[s.labels["reason"]] = s.value
    return found


SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/account")</script></svg>'

# (breakage, what the dead-letter reason starts with, the reason label: the rejection's typed reason)
BROKEN = [
    ("sha256", "sha256 mismatch:", "sha256_mismatch"),
    ("size", "size mismatch:", "size_mismatch"),
    ("missing", "object missing:", "missing_object"),
    ("conflict", "conflicting duplicate:", "conflicting_duplicate"),
    # An SVG with a script announced as a PDF (checksums right): only the bytes tell, and it never gets stored.
    ("svg", "not a PDF:", "not_pdf"),
    # Not permanent (the policy's batch may not have committed yet): retried through the broker's retry tiers until
    # the retry horizon (3 s in this stack), then dead-lettered with the history.
    ("policy", "gave up after ", "horizon"),
    ("owner", "gave up after ", "horizon"),
]


@pytest.mark.parametrize("breakage, reason, label", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_events_are_dead_lettered_with_the_reason_and_counted_once(stack, customer, breakage, reason, label):
    customer_id, policy_number = customer
    data = SVG_WITH_SCRIPT if breakage == "svg" else pdf(breakage)
    event = upload(stack, data, customer_id, policy_number)
    if breakage == "sha256":
        event["sha256"] = hashlib.sha256(b"tampered" + data).hexdigest()
    elif breakage == "size":
        event["size"] = len(data) - 1
    elif breakage == "missing":
        stack.s3.delete_object(Bucket="portal-inbox", Key=event["key"])
    elif breakage == "conflict":  # a document already stored; then other bytes under the same document_id
        stored = upload(stack, pdf("stored first"), customer_id, policy_number)
        stack.publish("document.uploaded", stored)
        wait_for(lambda: listed(stack, customer_id, stored["document_id"]), what="the first document")
        event["document_id"] = stored["document_id"]
    elif breakage == "policy":
        event["policy_number"] = "NO-SUCH-POLICY"
    elif breakage == "owner":
        event["customer_id"] = "C-someone-else"
    before = dead_lettered(stack)
    message_id = stack.publish("document.uploaded", event)
    props, body = stack.get_message(f"{stack.namespace}.documents.dead")
    assert props.message_id == message_id and json.loads(body) == event
    assert props.headers["x-dead-reason"].startswith(reason)
    if breakage in ("policy", "owner"):
        assert "(retry horizon" in props.headers["x-dead-reason"]
        assert props.headers["x-first-failure-reason"].startswith("unknown policy: ")
        assert props.headers["x-attempts"] >= 2
    if breakage in ("sha256", "conflict", "policy", "owner", "svg"):
        assert inbox_has(stack, event["key"])  # nothing lost: the operator still has the object
    if breakage == "conflict":
        assert listed(stack, customer_id, event["document_id"])["sha256"] == stored["sha256"]
        got = stack.api.get(f"/internal/customers/{customer_id}/documents/{event['document_id']}/content",
                            headers=TOKEN)
        assert hashlib.sha256(got.data).hexdigest() == stored["sha256"]  # the stored bytes are untouched
    else:
        assert listed(stack, customer_id, event["document_id"]) is None
    after = wait_for(lambda: (lambda d: d if d.get(label, 0) > before.get(label, 0) else None)(dead_lettered(stack)),
                     what=f"the dead-letter counter for {label!r}")
    assert after[label] == before.get(label, 0) + 1  # exactly once for the one rejection
    assert {k: v for k, v in after.items() if k != label} == {k: v for k, v in before.items() if k != label}


def test_a_document_announced_before_its_new_policy_is_stored_when_the_policy_follows(stack):
    """The race the retries are for: the document is handled before the policy.upserted of its brand-new policy
    has been committed (here: published half a second later)."""
    customer_id, policy_number = f"C-{uuid.uuid4().hex[:8]}", f"KGFB-{uuid.uuid4().hex[:8]}"
    event = upload(stack, pdf("early"), customer_id, policy_number)
    stack.publish("document.uploaded", event)
    time.sleep(0.5)
    stack.publish("policy.upserted", policy(policy_number, customer_id))
    assert wait_for(lambda: listed(stack, customer_id, event["document_id"]), what="the document after a retry")
    assert wait_for(lambda: not inbox_has(stack, event["key"]), what="the inbox copy to go")


def test_a_document_already_past_its_13_months_on_arrival_is_dead_lettered_not_stored(stack, customer):
    customer_id, policy_number = customer
    event = upload(stack, pdf("too old"), customer_id, policy_number,
                   uploaded_at=datetime.now(timezone.utc) - relativedelta(months=14))
    message_id = stack.publish("document.uploaded", event)
    props, body = stack.get_message(f"{stack.namespace}.documents.dead", timeout=60)
    assert props.message_id == message_id and json.loads(body)["document_id"] == event["document_id"]
    assert props.headers["x-dead-reason"].startswith(f"expired on arrival: document {event['document_id']} was "
                                                     "uploaded at ")
    assert listed(stack, customer_id, event["document_id"]) is None
    key = f"customers/{customer_id}/{event['document_id']}.pdf"
    assert stack.s3.list_objects_v2(Bucket="portal-documents", Prefix=key)["KeyCount"] == 0
    assert inbox_has(stack, event["key"])  # kept for the operator, like every rejected upload
    assert outbox_count(stack, event["document_id"]) == 0  # nobody is e-mailed about it


def test_a_document_stored_fourteen_months_ago_is_expired_and_swept(stack, customer):
    from documents.adapters.object_store import S3ObjectStore
    from documents.bootstrap import bootstrap
    from documents.domain import commands
    from documents.entrypoints import schemas
    from documents.service_layer import handlers
    from documents.settings import Settings

    customer_id, policy_number = customer
    uploaded_at = datetime.now(timezone.utc) - relativedelta(months=14)
    event = upload(stack, pdf("old"), customer_id, policy_number, uploaded_at=uploaded_at)
    wait_for(lambda: _owner_known(stack, policy_number), what="the policy owner")
    # Stored back then, when it was new: the ingestion with the clock of that day.
    wiring = bootstrap(stack.database_url, store=S3ObjectStore.from_settings(
        Settings(s3_endpoint_url=stack.s3_endpoint)), clock=lambda: uploaded_at)
    try:
        fields = schemas.DocumentUploadedSchema().load(event)
        cmd = commands.IngestDocument(**{**fields, "document_id": str(fields["document_id"])})
        handlers.ingest_document(cmd, wiring.uow(), wiring.store, wiring.locations, uploaded_at)
    finally:
        wiring.engine.dispose()
    doc = wait_for(lambda: listed(stack, customer_id, event["document_id"]), what="the old document")
    assert doc["expired"] is True
    got = stack.api.get(f"/internal/customers/{customer_id}/documents/{event['document_id']}/content", headers=TOKEN)
    assert got.status_code == 410 and got.get_json()["error"] == "expired"
    key = f"customers/{customer_id}/{event['document_id']}.pdf"
    assert stack.s3.list_objects_v2(Bucket="portal-documents", Prefix=key)["KeyCount"] == 1

    done = subprocess.run([sys.executable, "-m", "documents.entrypoints.sweep"], env=stack.env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert event["document_id"] in json.loads(done.stdout.strip().splitlines()[-1])["document_ids"]
    assert stack.s3.list_objects_v2(Bucket="portal-documents", Prefix=key)["KeyCount"] == 0
    assert listed(stack, customer_id, event["document_id"]) is None
    assert stack.api.get(f"/internal/customers/{customer_id}/documents/{event['document_id']}",
                         headers=TOKEN).status_code == 404


def _owner_known(stack, policy_number) -> bool:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM policy_owners WHERE policy_number = :p"),
                                {"p": policy_number}).scalar_one() == 1
    finally:
        engine.dispose()


def test_closed_account_hides_the_documents(stack):
    customer_id, policy_number = f"C-{uuid.uuid4().hex[:8]}", f"KGFB-{uuid.uuid4().hex[:8]}"
    stack.publish("policy.upserted", policy(policy_number, customer_id))
    event = upload(stack, pdf("closing"), customer_id, policy_number)
    stack.publish("document.uploaded", event)  # before registration: kept
    wait_for(lambda: listed(stack, customer_id, event["document_id"]), what="the document")
    stack.publish("account.activated", {"account_id": "A-1", "customer_id": customer_id, "username": "anna",
                                        "email": "anna@example.com", "mobile": "+36301234567", "language": "hu",
                                        "initial_password": "not-read-here"})
    stack.publish("account.closed", {"account_id": "A-1", "customer_id": customer_id, "email": "anna@example.com",
                                     "language": "hu", "closed_at": datetime.now(timezone.utc).isoformat()})
    wait_for(lambda: stack.api.get(f"/internal/customers/{customer_id}/documents", headers=TOKEN).status_code == 404,
             what="the list to answer 404")
    assert stack.api.get(f"/internal/customers/{customer_id}/documents/{event['document_id']}/content",
                         headers=TOKEN).status_code == 404


def test_the_delivery_record_and_the_expiry_reminder_on_postgresql(stack, customer):
    """notify's document.announced reaches the record through the worker; the reminder is decided once (its
    outbox row and reminder_sent_at in one transaction); downloads are counted."""
    from documents.adapters.object_store import S3ObjectStore
    from documents.bootstrap import bootstrap
    from documents.service_layer import handlers
    from documents.settings import Settings

    customer_id, policy_number = customer
    event = upload(stack, pdf("record"), customer_id, policy_number)
    stack.publish("document.uploaded", event)
    doc = wait_for(lambda: listed(stack, customer_id, event["document_id"]), what="the document")
    assert doc["delivery"]["announced_at"] is None and doc["delivery"]["download_count"] == 0
    sent_at = datetime.now(timezone.utc).replace(microsecond=0)
    stack.publish("document.announced", {"document_id": event["document_id"], "customer_id": customer_id,
                                         "notification_id": str(uuid.uuid4()), "channel": "email",
                                         "sent_at": sent_at.isoformat()})
    record = wait_for(lambda: (listed(stack, customer_id, event["document_id"]) or {}).get("delivery", {})
                      .get("announced_at"), what="the announcement in the record")
    assert datetime.fromisoformat(record) == sent_at
    url = f"/internal/customers/{customer_id}/documents/{event['document_id']}/content"
    assert stack.api.get(url + "?purpose=view", headers=TOKEN).status_code == 200
    assert stack.api.get(url, headers=TOKEN).status_code == 200
    ops = stack.api.get(f"/internal/customers/{customer_id}/delivery-records", headers=TOKEN).get_json()
    [mine] = [d for d in ops["documents"] if d["document_id"] == event["document_id"]]
    assert mine["delivery"]["first_opened_at"] and mine["delivery"]["download_count"] == 1

    unread = upload(stack, pdf("unread"), customer_id, policy_number)
    stack.publish("document.uploaded", unread)
    stored = wait_for(lambda: listed(stack, customer_id, unread["document_id"]), what="the unread document")
    until = datetime.fromisoformat(stored["available_until"])
    wiring = bootstrap(stack.database_url, store=S3ObjectStore.from_settings(
        Settings(s3_endpoint_url=stack.s3_endpoint)))
    try:
        first = handlers.send_expiry_reminders(wiring.uow, until - timedelta(days=29), 30)
        again = handlers.send_expiry_reminders(wiring.uow, until - timedelta(days=28), 30)
    finally:
        wiring.engine.dispose()
    assert unread["document_id"] in first and event["document_id"] not in first and again == []
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM outbox WHERE event = 'document.expiring' "
                                     "AND payload LIKE :p"), {"p": f'%"{unread["document_id"]}"%'}).scalar_one()
    finally:
        engine.dispose()
    assert rows == 1


def test_a_first_read_with_no_gateway_subscribed_is_relayed_and_done(stack, customer):
    """Issue 9: ``document.read`` is for the gateways' per-process queues only. With none subscribed (here: no
    gateway at all) RabbitMQ returns it unroutable; the real worker's relay marks the row done instead of retrying it
    for ever (which would raise PortalOutboxStuck)."""
    customer_id, policy_number = customer
    event = upload(stack, pdf("read"), customer_id, policy_number)
    stack.publish("document.uploaded", event)
    wait_for(lambda: listed(stack, customer_id, event["document_id"]), what="the document in the list")
    url = f"/internal/customers/{customer_id}/documents/{event['document_id']}"
    assert stack.api.get(url + "/content", headers=TOKEN).status_code == 200
    assert stack.api.post(url + "/read", headers=TOKEN).status_code == 204  # read already: no second event

    def relayed():
        return [r for r in outbox_rows(stack, "document.read", event["document_id"]) if r.published_at is not None]

    assert wait_for(relayed, what="document.read relayed")
    [row] = outbox_rows(stack, "document.read", event["document_id"])
    assert row.attempts == 0  # done at the first attempt: not a failure waiting for its back-off
    # the download's document.delivery_recorded is for the gateways too: done at once as well
    def recorded_relayed():
        rows = outbox_rows(stack, "document.delivery_recorded", event["document_id"])
        return rows and all(r.published_at is not None for r in rows)

    assert wait_for(recorded_relayed, what="document.delivery_recorded relayed")
    [recorded] = outbox_rows(stack, "document.delivery_recorded", event["document_id"])
    assert recorded.attempts == 0
