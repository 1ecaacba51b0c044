"""One reminder about an unread document ~30 days before its 13 months end; never for a read one or twice."""
from __future__ import annotations

from datetime import timedelta

from documents.domain import commands
from documents.service_layer import handlers

from .conftest import NOW, upload


def ingest(uow, store, **overrides):
    return handlers.ingest_document(upload(store, **overrides), uow, store, handlers.Locations(
        "portal-documents", "portal-inbox"), NOW)


def reminders(uow) -> list[str]:
    return [p["document_id"] for name, p in uow.published if name == "document.expiring"]


def test_an_unread_document_is_reminded_once_30_days_before_its_end(uow, store):
    unread = ingest(uow, store, uploaded_at=NOW)
    read = ingest(uow, store, uploaded_at=NOW)
    handlers.open_content(uow, store, "C-1", read.document_id, NOW, "view")[1].close()
    end = unread.available_until
    assert handlers.send_expiry_reminders(lambda: uow, end - timedelta(days=31), 30) == []
    assert handlers.send_expiry_reminders(lambda: uow, end - timedelta(days=29), 30) == [unread.document_id]
    [payload] = [p for name, p in uow.published if name == "document.expiring"]
    assert payload["available_until"] == end.isoformat() and payload["title"] == unread.title
    assert handlers.send_expiry_reminders(lambda: uow, end - timedelta(days=1), 30) == []  # once
    assert reminders(uow) == [unread.document_id]
    # the reminder is part of the delivery record the gateways show: they hear of it (once)
    assert [(p["document_id"], p["what"], p["happened_at"]) for name, p in uow.published
            if name == "document.delivery_recorded" and p["what"] == "reminded"] == [
        (unread.document_id, "reminded", (end - timedelta(days=29)).isoformat())]


def test_no_reminder_after_the_end_or_for_a_closed_registration(uow, store):
    late = ingest(uow, store, uploaded_at=NOW)
    assert handlers.send_expiry_reminders(lambda: uow, late.available_until, 30) == []
    closed = ingest(uow, store, uploaded_at=NOW - timedelta(days=1))
    handlers.close_customer(commands.CloseCustomer("C-1"), uow, NOW)
    assert handlers.send_expiry_reminders(lambda: uow, closed.available_until - timedelta(days=10), 30) == []
    assert reminders(uow) == []
