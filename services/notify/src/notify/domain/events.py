"""Events this service publishes (through its outbox). One class per contract in contracts/events/."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from portal_common.events import IntegrationEvent


@dataclass(frozen=True)
class NotificationFailed(IntegrationEvent):
    """``notification.failed`` v1: notify gave up on a delivery (identity listens for the initial-password SMS)."""

    name: ClassVar[str] = "notification.failed"
    notification_id: str
    cause_event_id: str
    cause_event: str
    channel: str
    template: str
    account_id: str | None
    customer_id: str | None
    reason: str
    failed_at: datetime


@dataclass(frozen=True)
class DocumentAnnounced(IntegrationEvent):
    """``document.announced`` v1: the new-document e-mail went out (documents records the moment)."""

    name: ClassVar[str] = "document.announced"
    document_id: str
    customer_id: str
    notification_id: str
    channel: str
    sent_at: datetime
