from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

import pytest

from documents.adapters.object_store import FakeObjectStore
from documents.domain import commands, model
from documents.service_layer import handlers
from documents.service_layer.unit_of_work import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
WHERE = handlers.Locations("portal-documents", "portal-inbox")
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def owner(policy_number="KGFB-1", customer_id="C-1"):
    return model.PolicyOwner(policy_number, customer_id, NOW)


def upload(store: FakeObjectStore, data: bytes = PDF, *, checksum: bool = True, **overrides) -> commands.IngestDocument:
    """Put ``data`` into the fake inbox and return the matching command (override fields to break it)."""
    document_id = overrides.pop("document_id", str(uuid.uuid4()))
    key = f"inbox/{document_id}.pdf"
    store.put("portal-inbox", key, data, checksum=checksum)
    fields = dict(document_id=document_id, policy_number="KGFB-1", customer_id="C-1", doc_type="premium_notice",
                  title="Díjértesítő", uploaded_at=NOW, bucket="portal-inbox", key=key,
                  content_type="application/pdf", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    fields.update(overrides)
    return commands.IngestDocument(**fields)


@pytest.fixture
def store():
    return FakeObjectStore()


@pytest.fixture
def uow(store):
    return FakeUnitOfWork(owners=[owner()], store=store)
