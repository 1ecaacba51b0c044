"""Events this service publishes (through its outbox). One class per contract in contracts/events/."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from portal_common.events import IntegrationEvent

#: Events only live subscribers take (the gateway's per-process queues; no queue of topology.json is bound for
#: them): while no gateway is subscribed the relay lets them go unrouted (portal_common.outbox.OutboxRelay).
LIVE_SUBSCRIBERS_ONLY = ("document.read", "document.delivery_recorded")


@dataclass(frozen=True)
class DocumentAvailable(IntegrationEvent):
    """``document.available`` v1: a verified document is now visible to its owner."""

    name: ClassVar[str] = "document.available"
    document_id: str
    customer_id: str
    policy_number: str
    doc_type: str
    title: str
    uploaded_at: datetime
    available_until: datetime


@dataclass(frozen=True)
class DocumentExpiring(DocumentAvailable):
    """``document.expiring`` v1: an unread document's window ends soon (notify reminds the customer once). The
    same fields as ``document.available``, and when the reminder was decided."""

    name: ClassVar[str] = "document.expiring"
    reminded_at: datetime


@dataclass(frozen=True)
class DocumentRead(IntegrationEvent):
    """``document.read`` v1: the customer opened or downloaded the document for the first time (it no longer counts
    as unread). Once per document."""

    name: ClassVar[str] = "document.read"
    document_id: str
    customer_id: str
    read_at: datetime


#: ``what`` of ``document.delivery_recorded``: the part of the delivery record that changed.
VIEWED, DOWNLOADED, ANNOUNCED, REMINDED = "viewed", "downloaded", "announced", "reminded"


@dataclass(frozen=True)
class DocumentDeliveryRecorded(IntegrationEvent):
    """``document.delivery_recorded`` v1: the document's delivery record changed (``what``: viewed for the first
    time, downloaded, announced earlier than recorded, reminded). The gateway's pages show the record; no content,
    title or address in it."""

    name: ClassVar[str] = "document.delivery_recorded"
    document_id: str
    customer_id: str
    what: str
    happened_at: datetime
