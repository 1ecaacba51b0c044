"""The internal API on SQLite with the fake object store: what the gateway sees."""
import hashlib
from datetime import timedelta

import pytest

from portal_common import testing
from portal_common.testing import caller_headers

from documents.adapters import orm
from documents.adapters.object_store import FakeObjectStore
from documents.domain import commands
from documents.entrypoints.api import create_app
from documents.service_layer import handlers
from documents.settings import Settings

from .conftest import NOW, PDF, WHERE, upload

TOKEN = caller_headers()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.database)])
def database_url(request, tmp_path):
    """Every API test on both databases: the list reads in one SQL query (window counts, the closed-registration
    check in its WHERE) whose dialects differ."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'documents.db'}"
    else:
        with testing.temp_postgres_database("documents_api") as url:
            yield url


@pytest.fixture
def app(database_url, monkeypatch):
    monkeypatch.delenv("PORTAL_GATEWAY_TOKEN_SHA256", raising=False)
    store = FakeObjectStore()
    clock = {"now": NOW}
    app = create_app(database_url, store=store, clock=lambda: clock["now"], settings=Settings())
    wiring = app.extensions["documents"]
    orm.metadata.create_all(wiring.engine)
    handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
    handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-2", "C-2", NOW), wiring.uow())
    app.testing, app.store, app.clock = True, store, clock
    yield app
    wiring.engine.dispose()


def ingest(app, **overrides):
    return handlers.ingest_document(upload(app.store, **overrides), app.extensions["documents"].uow(), app.store,
                                    WHERE, NOW)


def test_puts_the_lifecycle_rule_on_the_documents_bucket_at_start(app):
    assert app.store.buckets == {"portal-documents": 398, "portal-inbox": None}


def test_needs_the_service_token(app):
    assert app.test_client().get("/internal/customers/C-1/documents").status_code == 401


def test_list_download_and_read_marker(app):
    doc = ingest(app, title="Kötvény", doc_type="policy_schedule")
    assert app.store.data("portal-inbox", f"inbox/{doc.document_id}.pdf") is None  # deleted after the commit
    client = app.test_client()
    listing = client.get("/internal/customers/C-1/documents?policy_number=&doc_type=", headers=TOKEN).get_json()
    assert listing["unread"] == 1
    assert listing["documents"] == [{
        "document_id": doc.document_id, "title": "Kötvény", "doc_type": "policy_schedule", "policy_number": "KGFB-1",
        "uploaded_at": "2026-11-21T12:00:00+00:00", "available_until": "2027-12-21T12:00:00+00:00",
        "expired": False, "read": False, "size": len(PDF), "content_type": "application/pdf",
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "delivery": {"arrived_at": "2026-11-21T12:00:00+00:00", "announced_at": None, "first_opened_at": None,
                     "first_downloaded_at": None, "last_downloaded_at": None, "download_count": 0,
                     "reminder_sent_at": None}}]
    got = client.get(f"/internal/customers/C-1/documents/{doc.document_id}/content", headers=TOKEN)
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["Content-Length"] == str(len(PDF)) and got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Document-SHA256"] == hashlib.sha256(PDF).hexdigest()
    after = client.get(f"/internal/customers/C-1/documents/{doc.document_id}", headers=TOKEN).get_json()
    assert after["read"] is True
    assert client.get("/internal/customers/C-1/documents", headers=TOKEN).get_json()["unread"] == 0


def test_filters_and_limit(app):
    ingest(app, doc_type="premium_notice", uploaded_at=NOW - timedelta(days=2))
    newest = ingest(app, doc_type="claim_letter", uploaded_at=NOW - timedelta(days=1))
    client = app.test_client()
    by_type = client.get("/internal/customers/C-1/documents?doc_type=claim_letter", headers=TOKEN).get_json()
    assert [d["document_id"] for d in by_type["documents"]] == [newest.document_id]
    limited = client.get("/internal/customers/C-1/documents?limit=1", headers=TOKEN).get_json()
    assert [d["document_id"] for d in limited["documents"]] == [newest.document_id]
    assert (limited["unread"], limited["total"]) == (2, 2)
    assert client.get("/internal/customers/C-1/documents?policy_number=KGFB-2", headers=TOKEN).get_json() == {
        "documents": [], "unread": 0, "total": 0}
    bad = client.get("/internal/customers/C-1/documents?limit=0&doc_type=poem&offset=-1", headers=TOKEN)
    assert bad.status_code == 422 and set(bad.get_json()["fields"]) == {"limit", "doc_type", "offset"}


def test_offset_and_total_page_through_the_filtered_documents(app):
    ids = [ingest(app, doc_type="premium_notice", uploaded_at=NOW - timedelta(days=d)).document_id
           for d in range(5)]  # newest first: ids[0] … ids[4]
    ingest(app, doc_type="claim_letter", uploaded_at=NOW - timedelta(days=9))
    client = app.test_client()
    pages = [client.get(f"/internal/customers/C-1/documents?doc_type=premium_notice&limit=2&offset={offset}",
                        headers=TOKEN).get_json() for offset in (0, 2, 4, 6)]
    assert [[d["document_id"] for d in p["documents"]] for p in pages] == [ids[0:2], ids[2:4], ids[4:], []]
    assert {(p["total"], p["unread"]) for p in pages} == {(5, 5)}  # counts ignore limit and offset
    everything = client.get("/internal/customers/C-1/documents?offset=&limit=", headers=TOKEN).get_json()
    assert everything["total"] == 6 and len(everything["documents"]) == 6  # empty values: the defaults


def test_a_list_holds_only_the_customers_own_documents_and_counts(app):
    mine = ingest(app)
    ingest(app, policy_number="KGFB-2", customer_id="C-2")
    ingest(app, policy_number="KGFB-2", customer_id="C-2")
    client = app.test_client()
    listing = client.get("/internal/customers/C-1/documents", headers=TOKEN).get_json()
    assert [d["document_id"] for d in listing["documents"]] == [mine.document_id]
    assert (listing["total"], listing["unread"]) == (1, 1)
    assert client.get("/internal/customers/C-3/documents", headers=TOKEN).get_json() == {
        "documents": [], "unread": 0, "total": 0}


def test_document_json_is_what_the_schema_dumps(app):
    """The list builds its JSON by hand (cheaper than marshmallow's dump); the schema is the contract."""
    from documents.entrypoints import schemas
    from documents.entrypoints.api import document_json

    doc = ingest(app)
    for when in ("announced_at", "first_opened_at", "first_downloaded_at", "last_downloaded_at", "reminder_sent_at"):
        setattr(doc, when, NOW + timedelta(minutes=len(when)))
    doc.download_count, doc.read_at = 3, NOW
    fresh = ingest(app)  # every optional time still None
    for d in (doc, fresh):
        for now in (NOW, NOW + timedelta(days=500)):
            expected = schemas.DocumentOutSchema().dump({
                "document_id": d.document_id, "title": d.title, "doc_type": d.doc_type,
                "policy_number": d.policy_number, "uploaded_at": d.uploaded_at,
                "available_until": d.available_until, "expired": d.expired(now), "read": d.read, "size": d.size,
                "content_type": d.content_type, "sha256": d.sha256, "delivery": d})
            assert document_json(d, now) == expected


def test_another_customers_document_is_404_like_a_missing_one(app):
    other = ingest(app, policy_number="KGFB-2", customer_id="C-2")
    client = app.test_client()
    for path in (f"/internal/customers/C-1/documents/{other.document_id}",
                 f"/internal/customers/C-1/documents/{other.document_id}/content",
                 "/internal/customers/C-1/documents/00000000-0000-0000-0000-000000000000"):
        got = client.get(path, headers=TOKEN)
        assert got.status_code == 404 and got.get_json()["error"] == "not_found"
    assert client.post(f"/internal/customers/C-1/documents/{other.document_id}/read", headers=TOKEN).status_code == 404
    assert client.get(f"/internal/customers/C-2/documents/{other.document_id}", headers=TOKEN).status_code == 200


def test_after_thirteen_months_listed_as_expired_and_content_410(app):
    doc = ingest(app)
    app.clock["now"] = doc.available_until
    client = app.test_client()
    listed = client.get("/internal/customers/C-1/documents", headers=TOKEN).get_json()
    assert listed["documents"][0]["expired"] is True and listed["unread"] == 0
    got = client.get(f"/internal/customers/C-1/documents/{doc.document_id}/content", headers=TOKEN)
    assert got.status_code == 410 and got.get_json()["error"] == "expired"


def test_read_endpoint(app):
    doc = ingest(app)
    client = app.test_client()
    assert client.post(f"/internal/customers/C-1/documents/{doc.document_id}/read", headers=TOKEN).status_code == 204
    assert client.get(f"/internal/customers/C-1/documents/{doc.document_id}", headers=TOKEN).get_json()["read"]


def test_closed_registration_answers_404_everywhere(app):
    doc = ingest(app)
    handlers.close_customer(commands.CloseCustomer("C-1"), app.extensions["documents"].uow(), NOW)
    client = app.test_client()
    for path in ("/internal/customers/C-1/documents", f"/internal/customers/C-1/documents/{doc.document_id}",
                 f"/internal/customers/C-1/documents/{doc.document_id}/content"):
        assert client.get(path, headers=TOKEN).status_code == 404


def test_content_is_always_an_attachment_in_a_sandbox_and_only_a_pdf_is_named_one(app):
    doc = ingest(app)
    client = app.test_client()
    got = client.get(f"/internal/customers/C-1/documents/{doc.document_id}/content", headers=TOKEN)
    assert got.headers["Content-Type"] == "application/pdf"
    assert (got.headers["Content-Disposition"], got.headers["Content-Security-Policy"],
            got.headers["X-Content-Type-Options"]) == ("attachment", "sandbox", "nosniff")
    # A row stored before the PDF check with another type: served as opaque bytes, never as what it claims.
    with app.extensions["documents"].uow() as uow:
        uow.documents.get(doc.document_id).content_type = "image/svg+xml"
        uow.commit()
    legacy = client.get(f"/internal/customers/C-1/documents/{doc.document_id}/content", headers=TOKEN)
    assert legacy.status_code == 200 and legacy.headers["Content-Type"] == "application/octet-stream"


def test_the_delivery_record_tells_viewing_from_downloading_and_operators_see_it_per_customer(app):
    doc = ingest(app, title="Kötvény", doc_type="policy_schedule")
    client = app.test_client()
    url = f"/internal/customers/C-1/documents/{doc.document_id}"
    app.clock["now"] += timedelta(minutes=5)
    assert client.get(url + "/content?purpose=view", headers=TOKEN).status_code == 200
    app.clock["now"] += timedelta(minutes=5)
    client.get(url + "/content", headers=TOKEN)
    app.clock["now"] += timedelta(minutes=5)
    client.get(url + "/content?purpose=download", headers=TOKEN)
    record = client.get(url, headers=TOKEN).get_json()["delivery"]
    assert record["first_opened_at"] == "2026-11-21T12:05:00+00:00"
    assert record["first_downloaded_at"] == "2026-11-21T12:10:00+00:00"
    assert (record["last_downloaded_at"], record["download_count"]) == ("2026-11-21T12:15:00+00:00", 2)
    assert client.get(url + "/content?purpose=print", headers=TOKEN).status_code == 422
    handlers.record_announced(commands.RecordAnnounced(doc.document_id, "C-1", NOW + timedelta(seconds=7)),
                              app.extensions["documents"].uow())
    handlers.record_announced(commands.RecordAnnounced(doc.document_id, "C-2", NOW),  # not C-2's
                              app.extensions["documents"].uow())
    operators = client.get("/internal/customers/C-1/delivery-records", headers=TOKEN).get_json()
    [one] = operators["documents"]
    assert one["delivery"]["announced_at"] == "2026-11-21T12:00:07+00:00" and one["delivery"]["download_count"] == 2
    assert client.get("/internal/customers/C-2/delivery-records", headers=TOKEN).get_json()["documents"] == []


def test_sort_by_date_type_and_policy(app):
    handlers.record_policy_owner(commands.RecordPolicyOwner("HOME-9", "C-1", NOW), app.extensions["documents"].uow())
    a = ingest(app, doc_type="premium_notice", policy_number="KGFB-1", uploaded_at=NOW - timedelta(days=3))
    b = ingest(app, doc_type="claim_letter", policy_number="HOME-9", uploaded_at=NOW - timedelta(days=2))
    c = ingest(app, doc_type="premium_notice", policy_number="HOME-9", uploaded_at=NOW - timedelta(days=1))
    client = app.test_client()

    def ids(query):
        body = client.get("/internal/customers/C-1/documents" + query, headers=TOKEN).get_json()
        return [d["document_id"] for d in body["documents"]]

    assert ids("") == [c.document_id, b.document_id, a.document_id]
    assert ids("?sort=date&order=asc") == [a.document_id, b.document_id, c.document_id]
    assert ids("?sort=type") == [b.document_id, c.document_id, a.document_id]  # A-Z, ties newest first
    assert ids("?sort=policy") == [c.document_id, b.document_id, a.document_id]
    assert ids("?sort=policy&order=desc") == [a.document_id, c.document_id, b.document_id]
    assert client.get("/internal/customers/C-1/documents?sort=size", headers=TOKEN).status_code == 422


def test_the_first_read_writes_one_document_read_outbox_row(app):
    """Issue 9 (both databases): viewing, downloading and the read marker; only the first one writes the event."""
    import json

    from sqlalchemy import text

    doc = ingest(app)
    client = app.test_client()
    url = f"/internal/customers/C-1/documents/{doc.document_id}"
    app.clock["now"] = NOW + timedelta(minutes=7)
    assert client.get(url + "/content?purpose=view", headers=TOKEN).status_code == 200
    app.clock["now"] = NOW + timedelta(minutes=9)
    assert client.get(url + "/content", headers=TOKEN).status_code == 200
    assert client.post(url + "/read", headers=TOKEN).status_code == 204
    with app.extensions["documents"].engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = 'document.read'")).scalars().all()
    assert [json.loads(r) for r in rows] == [{"document_id": doc.document_id, "customer_id": "C-1",
                                              "read_at": (NOW + timedelta(minutes=7)).isoformat()}]
    assert client.get(url, headers=TOKEN).get_json()["delivery"]["download_count"] == 1


def test_each_change_of_the_delivery_record_writes_a_delivery_recorded_outbox_row(app):
    """Issue 9 follow-up (both databases): the first view, every download, the announcement; the row is written with
    the record, and a later view or a later announcement writes none."""
    import json

    from sqlalchemy import text

    doc = ingest(app)
    client = app.test_client()
    url = f"/internal/customers/C-1/documents/{doc.document_id}"
    for minutes, purpose in ((1, "view"), (2, "view"), (3, "download"), (4, "download")):
        app.clock["now"] = NOW + timedelta(minutes=minutes)
        assert client.get(url + f"/content?purpose={purpose}", headers=TOKEN).status_code == 200
    for seconds in (7, 9):  # notify's announcement, then a later (repeated) one
        handlers.record_announced(commands.RecordAnnounced(doc.document_id, "C-1", NOW + timedelta(seconds=seconds)),
                                  app.extensions["documents"].uow())
    with app.extensions["documents"].engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = 'document.delivery_recorded' "
                                 "ORDER BY seq")).scalars().all()
    assert [(p["what"], p["happened_at"]) for p in map(json.loads, rows)] == [
        ("viewed", (NOW + timedelta(minutes=1)).isoformat()), ("downloaded", (NOW + timedelta(minutes=3)).isoformat()),
        ("downloaded", (NOW + timedelta(minutes=4)).isoformat()), ("announced", (NOW + timedelta(seconds=7)).isoformat())]
    assert {json.loads(r)["customer_id"] for r in rows} == {"C-1"}
