"""Two simultaneous opens of one document on PostgreSQL (the customer double-clicks, or views and downloads at once),
each loading the document before the other wrote anything:
- two first reads: only one writes ``document.read`` — the first read locks the row, the second waits for that
  commit and finds the document read;
- two downloads of a document already read: both are counted in its delivery record;
- two first views of a document already read: one ``document.delivery_recorded``, one first-view time."""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def stored_document(database: str, read: bool = False):
    """A PostgreSQL database of its own with one stored document of C-1 (read already when ``read``)."""
    with testing.temp_postgres_database(database) as url:
        store = FakeObjectStore()
        wiring = bootstrap(url, store=store, settings=Settings(), clock=lambda: NOW)
        try:
            orm.metadata.create_all(wiring.engine)
            handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
            doc = handlers.ingest_document(upload(store), wiring.uow(), store, WHERE, NOW)
            if read:
                handlers.mark_read(wiring.uow(), "C-1", doc.document_id, NOW)  # no first-read lock from here on
            yield wiring, store, doc
        finally:
            wiring.engine.dispose()


def at_once(monkeypatch, loaded, *calls) -> None:
    """Run ``calls`` in threads of their own; each waits, once it has loaded the document (``loaded(doc)`` holds),
    until all have loaded it: none saw what another wrote."""
    all_loaded = threading.Barrier(len(calls), timeout=30)
    owned = handlers._owned

    def owned_then_wait(uow, customer_id, document_id):
        found = owned(uow, customer_id, document_id)
        assert loaded(found)
        all_loaded.wait()
        return found

    monkeypatch.setattr(handlers, "_owned", owned_then_wait)
    with ThreadPoolExecutor(len(calls)) as pool:
        for done in [pool.submit(call) for call in calls]:
            done.result(timeout=60)
    monkeypatch.undo()


def opening(wiring, store, doc, purpose: str):
    def open_it():
        if purpose == "marker":
            return handlers.mark_read(wiring.uow(), "C-1", doc.document_id, NOW)
        _doc, stored = handlers.open_content(wiring.uow(), store, "C-1", doc.document_id, NOW, purpose)
        stored.close()
    return open_it


def outbox_rows(wiring, event: str) -> int:
    with wiring.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM outbox WHERE event = :event"), {"event": event}).scalar_one()


def test_two_simultaneous_first_reads_publish_one_document_read(monkeypatch):
    with stored_document("documents_first_read") as (wiring, store, doc):
        at_once(monkeypatch, lambda found: not found.read,
                opening(wiring, store, doc, "view"), opening(wiring, store, doc, "marker"))
        assert outbox_rows(wiring, "document.read") == 1


def test_two_simultaneous_downloads_of_a_read_document_are_both_counted(monkeypatch):
    with stored_document("documents_downloads", read=True) as (wiring, store, doc):
        at_once(monkeypatch, lambda found: found.read and found.download_count == 0,
                opening(wiring, store, doc, "download"), opening(wiring, store, doc, "download"))
        [record] = handlers.delivery_records(wiring.uow(), "C-1")
        assert record.download_count == 2


def test_two_simultaneous_first_views_of_a_read_document_publish_one_delivery_recorded(monkeypatch):
    """Read already (the marker), never viewed: the first view changes the delivery record, so it locks the row as
    a first read does; the second view waits, finds it viewed and publishes nothing. One first-view time kept."""
    with stored_document("documents_first_view", read=True) as (wiring, store, doc):
        at_once(monkeypatch, lambda found: found.read and found.first_opened_at is None,
                opening(wiring, store, doc, "view"), opening(wiring, store, doc, "view"))
        assert outbox_rows(wiring, "document.delivery_recorded") == 1
