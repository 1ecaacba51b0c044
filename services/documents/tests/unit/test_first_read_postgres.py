"""Two simultaneous first reads of one document on PostgreSQL (the customer double-clicks, or views and downloads
at once): both find it unread, but only one writes ``document.read`` — the first read locks the row, the second
waits for that commit and finds the document read. Two simultaneous downloads of a document already read are both
counted in its delivery record."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from documents.adapters import orm
from documents.adapters.object_store import FakeObjectStore
from documents.bootstrap import bootstrap
from documents.domain import commands
from documents.service_layer import handlers
from documents.settings import Settings
from portal_common import testing

from .conftest import NOW, WHERE, upload

pytestmark = pytest.mark.database


def test_two_simultaneous_first_reads_publish_one_document_read(monkeypatch):
    with testing.temp_postgres_database("documents_first_read") as url:
        store = FakeObjectStore()
        wiring = bootstrap(url, store=store, settings=Settings(), clock=lambda: NOW)
        try:
            orm.metadata.create_all(wiring.engine)
            handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
            doc = handlers.ingest_document(upload(store), wiring.uow(), store, WHERE, NOW)
            both_loaded = threading.Barrier(2, timeout=30)
            owned = handlers._owned

            def owned_then_wait(uow, customer_id, document_id):
                found = owned(uow, customer_id, document_id)
                assert not found.read  # each request loaded the document while it was still unread
                both_loaded.wait()
                return found

            monkeypatch.setattr(handlers, "_owned", owned_then_wait)

            def read(purpose):
                if purpose == "marker":
                    return handlers.mark_read(wiring.uow(), "C-1", doc.document_id, NOW)
                _doc, stored = handlers.open_content(wiring.uow(), store, "C-1", doc.document_id, NOW, purpose)
                stored.close()

            with ThreadPoolExecutor(2) as pool:
                for done in [pool.submit(read, "view"), pool.submit(read, "marker")]:
                    done.result(timeout=60)
            with wiring.engine.connect() as conn:
                rows = conn.execute(text("SELECT count(*) FROM outbox WHERE event = 'document.read'")).scalar_one()
            assert rows == 1
        finally:
            wiring.engine.dispose()


def test_two_simultaneous_downloads_of_a_read_document_are_both_counted(monkeypatch):
    with testing.temp_postgres_database("documents_downloads") as url:
        store = FakeObjectStore()
        wiring = bootstrap(url, store=store, settings=Settings(), clock=lambda: NOW)
        try:
            orm.metadata.create_all(wiring.engine)
            handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
            doc = handlers.ingest_document(upload(store), wiring.uow(), store, WHERE, NOW)
            handlers.mark_read(wiring.uow(), "C-1", doc.document_id, NOW)  # read before: no first-read lock
            both_loaded = threading.Barrier(2, timeout=30)
            owned = handlers._owned

            def owned_then_wait(uow, customer_id, document_id):
                found = owned(uow, customer_id, document_id)
                assert found.read and found.download_count == 0  # each request loaded the count before either wrote
                both_loaded.wait()
                return found

            monkeypatch.setattr(handlers, "_owned", owned_then_wait)

            def download():
                _doc, stored = handlers.open_content(wiring.uow(), store, "C-1", doc.document_id, NOW, "download")
                stored.close()

            with ThreadPoolExecutor(2) as pool:
                for done in [pool.submit(download), pool.submit(download)]:
                    done.result(timeout=60)
            monkeypatch.undo()
            [record] = handlers.delivery_records(wiring.uow(), "C-1")
            assert record.download_count == 2
        finally:
            wiring.engine.dispose()


def test_two_simultaneous_first_views_of_a_read_document_publish_one_delivery_recorded(monkeypatch):
    """Read already (the marker), never viewed: the first view changes the delivery record, so it locks the row as
    a first read does; the second view waits, finds it viewed and publishes nothing. One first-view time kept."""
    with testing.temp_postgres_database("documents_first_view") as url:
        store = FakeObjectStore()
        wiring = bootstrap(url, store=store, settings=Settings(), clock=lambda: NOW)
        try:
            orm.metadata.create_all(wiring.engine)
            handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
            doc = handlers.ingest_document(upload(store), wiring.uow(), store, WHERE, NOW)
            handlers.mark_read(wiring.uow(), "C-1", doc.document_id, NOW)
            both_loaded = threading.Barrier(2, timeout=30)
            owned = handlers._owned

            def owned_then_wait(uow, customer_id, document_id):
                found = owned(uow, customer_id, document_id)
                assert found.read and found.first_opened_at is None  # both loaded it before either viewed it
                both_loaded.wait()
                return found

            monkeypatch.setattr(handlers, "_owned", owned_then_wait)

            def view():
                _doc, stored = handlers.open_content(wiring.uow(), store, "C-1", doc.document_id, NOW, "view")
                stored.close()

            with ThreadPoolExecutor(2) as pool:
                for done in [pool.submit(view), pool.submit(view)]:
                    done.result(timeout=60)
            with wiring.engine.connect() as conn:
                rows = conn.execute(text("SELECT count(*) FROM outbox WHERE event = 'document.delivery_recorded'"))
                assert rows.scalar_one() == 1
        finally:
            wiring.engine.dispose()
