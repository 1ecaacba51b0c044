"""Documents, the policy-owner projection and the customer's registration state. Plain Python, no framework.

The rule the portal promises its customers: an electronic document can be opened for 13 calendar months after it
was uploaded (unless the customer closes their registration). ``available_until`` is computed once, at ingestion,
from the core system's ``uploaded_at``.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .events import (ANNOUNCED, DOWNLOADED, REMINDED, VIEWED, DocumentAvailable, DocumentDeliveryRecorded,
                     DocumentExpiring, DocumentRead)

RETENTION_MONTHS = 13
#: The customers' calendar: the 13 months are counted here, where the portal shows its dates.
BUDAPEST = ZoneInfo("Europe/Budapest")
#: S3 lifecycle expiry (whole days after the object's creation, rounded up to midnight UTC, asynchronous). 13
#: calendar months in Budapest are at most 397 days and 1 hour (2027-10-01 01:30 CEST -> 2028-11-01 01:30 CET spans a
#: leap day and the end of summer time), so 397 days could delete a document before its window ends; with 398 the
#: bucket never deletes one before the end of the day the portal shows as "available until" (test_domain).
LIFECYCLE_DAYS = 398
#: How much later than its arrival a document's ``uploaded_at`` may be: the clocks of the core system and the portal
#: may differ by this much; anything later is dead-lettered (``uploaded_in_future``).
UPLOAD_CLOCK_SKEW = timedelta(minutes=5)
PDF = "application/pdf"  # the only media type a document may have (issue 8: no active content on our origin)
DOC_TYPES = ("policy_schedule", "premium_notice", "payment_reminder", "claim_letter", "other")
VIEW, DOWNLOAD = "view", "download"
#: How the list may be ordered: newest/oldest first, by document type, by policy number (then newest first).
SORTS = ("date", "type", "policy")


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar-month arithmetic that clamps to the month's last day.

    >>> add_months(datetime(2026, 1, 31, 10, 0), 13)
    datetime.datetime(2027, 2, 28, 10, 0)
    """
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def window_end(uploaded_at: datetime) -> datetime:
    """The end of a document's 13 calendar months, counted on the Budapest calendar whatever offset the core system
    wrote: the same instant always gets the same window, and the day the portal shows as "available until" is 13
    months after the day it shows as the upload (clamped to the month's end). Returned in ``uploaded_at``'s offset.

    >>> window_end(datetime.fromisoformat("2026-04-30T22:30:00+00:00")).isoformat()  # 1 May 00:30 in Budapest
    '2027-05-31T22:30:00+00:00'
    """
    local = add_months(uploaded_at.astimezone(BUDAPEST), RETENTION_MONTHS)
    return local.astimezone(uploaded_at.tzinfo)


def document_key(customer_id: str, document_id: str) -> str:
    """Where a stored document lives in the documents bucket (one prefix per customer)."""
    return f"customers/{customer_id}/{document_id}.pdf"


class DocumentRow(NamedTuple):
    """A document as the customer's list shows it, read without loading the entity (nothing on a list page changes
    it): the same attributes and answers as :class:`Document` for what the list needs."""

    document_id: str
    customer_id: str
    policy_number: str
    doc_type: str
    title: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
    available_until: datetime
    stored_at: datetime
    read_at: datetime | None
    announced_at: datetime | None
    first_opened_at: datetime | None
    first_downloaded_at: datetime | None
    last_downloaded_at: datetime | None
    download_count: int
    reminder_sent_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return now >= self.available_until

    @property
    def read(self) -> bool:
        return self.read_at is not None


@dataclass(eq=False)  # an entity: identity is the document id
class Document:
    document_id: str
    customer_id: str
    policy_number: str
    doc_type: str
    title: str
    content_type: str
    size: int
    sha256: str
    bucket: str
    key: str
    uploaded_at: datetime
    available_until: datetime
    stored_at: datetime  # the delivery record's "arrived"
    read_at: datetime | None = None  # first opened or downloaded: the document is no longer "new"
    #: the delivery record, shown to the customer and to operators: when notify e-mailed the announcement, when the
    #: customer first opened it in the browser, first and last downloaded it (alone or in a ZIP) and how often
    announced_at: datetime | None = None
    first_opened_at: datetime | None = None
    first_downloaded_at: datetime | None = None
    last_downloaded_at: datetime | None = None
    download_count: int = 0
    reminder_sent_at: datetime | None = None  # the one reminder ~30 days before an unread document's window ends
    events: list = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def receive(cls, *, document_id: str, customer_id: str, policy_number: str, doc_type: str, title: str,
                content_type: str, size: int, sha256: str, bucket: str, key: str, uploaded_at: datetime,
                now: datetime) -> "Document":
        """A verified document stored under ``bucket``/``key``. Raises ``document.available`` unless it arrives
        already past its window (nobody should be e-mailed about a document they cannot open)."""
        doc = cls(document_id=document_id, customer_id=customer_id, policy_number=policy_number, doc_type=doc_type,
                  title=title, content_type=content_type, size=size, sha256=sha256, bucket=bucket, key=key,
                  uploaded_at=uploaded_at, available_until=window_end(uploaded_at), stored_at=now)
        if not doc.expired(now):
            doc.events.append(doc.available())
        return doc

    def expired(self, now: datetime) -> bool:
        return now >= self.available_until

    @property
    def read(self) -> bool:
        return self.read_at is not None

    def mark_read(self, now: datetime) -> None:
        """The first read raises ``document.read`` (the unread count changed); later ones change nothing."""
        if self.read_at is None:
            self.read_at = now
            self.events.append(DocumentRead(document_id=self.document_id, customer_id=self.customer_id,
                                            read_at=now))

    def records_when_opened(self, purpose: str | None) -> bool:
        """Whether opening it for ``purpose`` (None: only marking it read) changes what is recorded of it and so
        raises an event: the first read, every download, the first view."""
        return not self.read or purpose == DOWNLOAD or (purpose == VIEW and self.first_opened_at is None)

    def opened(self, now: datetime, purpose: str) -> None:
        """The customer got the bytes: ``view`` (in the browser) or ``download`` (the file, alone or in a ZIP).
        Raises ``document.delivery_recorded`` when the record changed: every download, the first view only."""
        self.mark_read(now)
        if purpose == VIEW:
            if self.first_opened_at is None:
                self.first_opened_at = now
                self._delivery_recorded(VIEWED, now)
        else:
            self.first_downloaded_at = self.first_downloaded_at or now
            self.last_downloaded_at = now
            self.download_count = (self.download_count or 0) + 1
            self._delivery_recorded(DOWNLOADED, now)

    def announced(self, at: datetime) -> None:
        """notify e-mailed the announcement (``document.announced``); the first sending counts, so only an earlier
        one than recorded changes the record (and raises ``document.delivery_recorded``)."""
        if self.announced_at is None or at < self.announced_at:
            self.announced_at = at
            self._delivery_recorded(ANNOUNCED, at)

    def _delivery_recorded(self, what: str, at: datetime) -> None:
        """The gateways forget the customer's listings, which show the delivery record."""
        self.events.append(DocumentDeliveryRecorded(document_id=self.document_id, customer_id=self.customer_id,
                                                    what=what, happened_at=at))

    def due_for_reminder(self, now: datetime, days_before: int) -> bool:
        """Unread, still open, its window ends within ``days_before`` days, and not reminded yet: remind once."""
        return (self.read_at is None and self.reminder_sent_at is None and not self.expired(now)
                and self.available_until - timedelta(days=days_before) <= now)

    def remind(self, now: datetime) -> None:
        self.reminder_sent_at = now
        self.events.append(DocumentExpiring(**self.available().fields(), reminded_at=now))
        self._delivery_recorded(REMINDED, now)  # the record shows the reminder too

    def available(self) -> DocumentAvailable:
        """``document.available`` v1 (contracts/events/document.available.v1.json)."""
        return DocumentAvailable(
            document_id=self.document_id, customer_id=self.customer_id, policy_number=self.policy_number,
            doc_type=self.doc_type, title=self.title, uploaded_at=self.uploaded_at,
            available_until=self.available_until)


@dataclass(eq=False)
class PolicyOwner:
    """This service's projection of ``policy.upserted``: whose is a policy."""

    policy_number: str
    customer_id: str
    updated_at: datetime


REGISTERED, CLOSED = "registered", "closed"


@dataclass(eq=False)
class Customer:
    """Registration state as learnt from identity's ``account.activated`` / ``account.closed``.

    Documents are stored whether or not the customer has registered; they appear once the customer logs in. After
    ``account.closed`` nothing of the customer is served any more (the retention sweep still deletes on schedule).
    """

    customer_id: str
    status: str
    changed_at: datetime

    @property
    def closed(self) -> bool:
        return self.status == CLOSED
