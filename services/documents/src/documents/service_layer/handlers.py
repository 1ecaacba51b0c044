"""Use cases. Plain functions ``(command | query, uow, ...)``; the worker, the HTTP API and the sweep call them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, timedelta
from typing import NamedTuple

from portal_common import logs
from portal_common.errors import PermanentError, TransientError

from .. import metrics
from ..adapters.object_store import AbstractObjectStore, StoredObject
from ..adapters.repository import DocumentFilter
from ..domain import commands, model
from .unit_of_work import AbstractUnitOfWork

log = logs.get_logger(__name__)


class Rejected(PermanentError):
    """A ``document.uploaded`` that can never be applied: dead-lettered at once. ``reason`` is a short label (the
    ``reason`` of ``portal_messages_dead_lettered_total``); the message (``sha256 mismatch: …``) is the dead-letter
    reason an operator reads."""

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason)


class PolicyNotKnownYet(TransientError):
    """The document's policy is not (or not yet) in the projection, or the projection names another customer.

    Not permanent: ``policy.upserted`` and ``document.uploaded`` share the queue and the worker runs competing
    consumers, so a document for a brand-new policy can be handled before the batch holding its policy commits (or
    the core system sends the policy late). The consumer retries it through the broker's retry tiers and
    dead-letters it only after the retry horizon."""

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason)


class NotFound(Exception):
    """No such document for this customer (or the customer's registration is closed): the same answer for all."""


class Expired(Exception):
    def __init__(self, doc: model.Document):
        super().__init__(doc.document_id)
        self.document = doc


class ContentMissing(Exception):
    """The metadata is there but the object is not (deleted behind the service's back)."""


@dataclass(frozen=True)
class Locations:
    documents_bucket: str
    inbox_bucket: str


# ------------------------------------------------------------------------------------------------------- ingestion
def ingest_document(cmd: commands.IngestDocument, uow: AbstractUnitOfWork, store: AbstractObjectStore,
                    locations: Locations, now: datetime) -> model.Document | None:
    """Verify the inbox object, copy it to the customer's prefix, record it (+ ``document.available``), and after
    the commit delete the inbox copy. Returns ``None`` for a duplicate (already stored with the same content: no-op).

    Raises :class:`Rejected` (never applicable: dead-letter) or :class:`PolicyNotKnownYet` (retry, then dead-letter).

    Per message the fast path costs one S3 request (a server-side COPY that also computes the SHA-256): the size
    comes from a recent listing of the inbox (one request per up to 1,000 documents of a bulk load; any size that
    does not match is re-checked with HEAD before rejecting), and the inbox deletions of a whole consumer batch go
    out as one ``DeleteObjects`` after the commit. Counters are bumped after the commit too (the shared consumer may
    run this more than once for one delivery; only the committed run counts).
    """
    with uow:
        existing = uow.documents.get(cmd.document_id)
        if existing is not None:
            _check_same_content(cmd, existing)
            log.debug("document_duplicate", document_id=cmd.document_id)
            if cmd.bucket == locations.inbox_bucket and (cmd.bucket, cmd.key) != (existing.bucket, existing.key):
                uow.after_commit_each(store.delete_objects, (cmd.bucket, cmd.key))  # a left-over of an earlier failed delete
            uow.after_commit(metrics.DOCUMENTS_DUPLICATE.inc)
            uow.commit()
            return None
        _check_within_window(cmd, now)
        _check_owner(cmd, uow)
        if cmd.bucket != locations.inbox_bucket:
            raise Rejected("wrong_bucket", f"wrong bucket: documents are taken from {locations.inbox_bucket!r} only, "
                                           f"not {cmd.bucket!r}")
        stored_sha256 = None
        if store.listed_size(cmd.bucket, cmd.key) != cmd.size:  # not known from a listing: ask S3 itself
            info = store.head(cmd.bucket, cmd.key)
            if info is None:
                raise Rejected("missing_object", f"object missing: s3://{cmd.bucket}/{cmd.key} does not exist")
            if info.size != cmd.size:
                raise Rejected("size_mismatch", f"size mismatch: the event says {cmd.size} bytes, "
                                                f"s3://{cmd.bucket}/{cmd.key} has {info.size}")
            if info.sha256 is not None and info.sha256 != cmd.sha256:
                raise Rejected("sha256_mismatch", f"sha256 mismatch: the event says {cmd.sha256}, the stored "
                                                  f"checksum of s3://{cmd.bucket}/{cmd.key} is {info.sha256}")
            stored_sha256 = info.sha256
        key = model.document_key(cmd.customer_id, cmd.document_id)
        doc = model.Document.receive(
            document_id=cmd.document_id, customer_id=cmd.customer_id, policy_number=cmd.policy_number,
            doc_type=cmd.doc_type, title=cmd.title, content_type=cmd.content_type, size=cmd.size, sha256=cmd.sha256,
            bucket=locations.documents_bucket, key=key, uploaded_at=cmd.uploaded_at, now=now)
        # Claim the document_id before touching the documents bucket: a concurrent ingestion of the same id (another
        # consumer) waits here for our commit and then finds the document stored, instead of overwriting our copy
        # under the same key with other bytes.
        uow.documents.add(doc)
        uow.flush()
        try:
            copied = store.copy(cmd.bucket, cmd.key, locations.documents_bucket, key)
        except KeyError:  # deleted since the listing / HEAD
            raise Rejected("missing_object", f"object missing: s3://{cmd.bucket}/{cmd.key} does not exist") from None
        # The copy's checksum is computed by S3 over the bytes it copied: the strongest evidence there is.
        actual = copied or stored_sha256 or store.sha256_of(locations.documents_bucket, key)
        if actual != cmd.sha256:
            store.delete_many(locations.documents_bucket, [key])  # the inbox copy stays for the operator
            raise Rejected("sha256_mismatch", f"sha256 mismatch: the event says {cmd.sha256}, "
                                              f"s3://{cmd.bucket}/{cmd.key} hashes to {actual}")
        _check_is_pdf(store, locations.documents_bucket, key, cmd)
        uow.after_commit_each(store.delete_objects, (cmd.bucket, cmd.key))
        uow.after_commit(metrics.DOCUMENTS_INGESTED.labels(doc.doc_type).inc)
        uow.commit()
        log.debug("document_stored", document_id=doc.document_id, policy_number=doc.policy_number,
                  doc_type=doc.doc_type, size=doc.size)
        return doc


PDF_MAGIC = b"%PDF-"


def _check_within_window(cmd: commands.IngestDocument, now: datetime) -> None:
    """A document may be opened for 13 months after its upload, so one that arrives already past them is never
    stored (it could not be shown, and nobody is told about it): dead-lettered with the reason, before anything is
    copied. The inbox object stays for the operator, as with every rejection.

    Nor is one that says it was uploaded later than it arrived, beyond :data:`model.UPLOAD_CLOCK_SKEW` of clock
    difference between the core system and the portal: its window would outlast 13 months from its arrival, and it
    would stay at the top of the list as the newest. A replay of the dead letter after that instant stores it."""
    if cmd.uploaded_at > now + model.UPLOAD_CLOCK_SKEW:
        raise Rejected("uploaded_in_future",
                       f"uploaded in the future: document {cmd.document_id} says it was uploaded at "
                       f"{cmd.uploaded_at.isoformat()}, after it arrived at {now.isoformat()} (more than "
                       f"{int(model.UPLOAD_CLOCK_SKEW.total_seconds() // 60)} minutes of clock difference)")
    available_until = model.window_end(cmd.uploaded_at)
    if now >= available_until:
        raise Rejected("expired_on_arrival",
                       f"expired on arrival: document {cmd.document_id} was uploaded at {cmd.uploaded_at.isoformat()}; "
                       f"its {model.RETENTION_MONTHS} months ended at {available_until.isoformat()}, before it arrived")


def _check_is_pdf(store: AbstractObjectStore, bucket: str, key: str, cmd: commands.IngestDocument) -> None:
    """Documents are PDFs: the bytes must start with ``%PDF-`` (ISO 32000-2, 7.5.2), whatever the event or the
    upload's Content-Type claim. Checked on OUR copy (after the SHA-256 check), which nobody else can swap. Anything
    else (an SVG or HTML with a script, an executable) would be served to customers from the portal's origin: it is
    dead-lettered with the reason, and the inbox object is kept for the operator."""
    head = store.read_prefix(bucket, key, len(PDF_MAGIC))
    if head != PDF_MAGIC:
        store.delete_many(bucket, [key])
        raise Rejected("not_pdf", f"not a PDF: s3://{cmd.bucket}/{cmd.key} starts with {head[:16]!r}, "
                                  f"not {PDF_MAGIC!r}")


def _check_same_content(cmd: commands.IngestDocument, existing: model.Document) -> None:
    """A re-used document_id is a duplicate only if it is the same document. Other bytes under a known id are
    dead-lettered (and their inbox object is kept): acking them would silently lose the new content."""
    if (existing.sha256, existing.size) != (cmd.sha256, cmd.size):
        raise Rejected("conflicting_duplicate",
                       f"conflicting duplicate: document {cmd.document_id} is already stored with sha256 "
                       f"{existing.sha256} ({existing.size} bytes); this upload has sha256 {cmd.sha256} "
                       f"({cmd.size} bytes) at s3://{cmd.bucket}/{cmd.key}, which is kept")


def _check_owner(cmd: commands.IngestDocument, uow: AbstractUnitOfWork) -> None:
    owner = uow.documents.get_policy_owner(cmd.policy_number)
    if owner is None:
        raise PolicyNotKnownYet("unknown_policy", f"unknown policy: {cmd.policy_number} has not been received "
                                                  "(no policy.upserted for it)")
    if owner.customer_id != cmd.customer_id:
        raise PolicyNotKnownYet("policy_customer_mismatch", f"unknown policy: {cmd.policy_number} belongs to "
                                                            f"another customer than {cmd.customer_id} "
                                                            "(per policy.upserted)")


# ----------------------------------------------------------------------------------------------------- projections
def record_policy_owner(cmd: commands.RecordPolicyOwner, uow: AbstractUnitOfWork) -> None:
    """``policy.upserted``: remember whose the policy is. An update older than the stored one is ignored."""
    with uow:
        owner = uow.documents.get_policy_owner(cmd.policy_number)
        if owner is None:
            uow.documents.add_policy_owner(model.PolicyOwner(cmd.policy_number, cmd.customer_id, cmd.updated_at))
        elif owner.updated_at <= cmd.updated_at:
            owner.customer_id, owner.updated_at = cmd.customer_id, cmd.updated_at
        uow.commit()


def register_customer(cmd: commands.RegisterCustomer, uow: AbstractUnitOfWork, now: datetime,
                      message=None) -> None:
    """``account.activated``: nothing moves — the documents kept so far simply become visible to the new user.
    A customer who registers again after closing sees their documents that are still inside their window.
    Ordered by the time the account was activated (the event's ``occurred_at``), not by arrival: see below."""
    _set_customer_status(uow, cmd.customer_id, model.REGISTERED, _occurred(message))


def close_customer(cmd: commands.CloseCustomer, uow: AbstractUnitOfWork, now: datetime, message=None) -> None:
    """``account.closed``: from now on nothing of the customer is served; the retention sweep still deletes the
    documents when their 13 months are over."""
    _set_customer_status(uow, cmd.customer_id, model.CLOSED, cmd.closed_at or _occurred(message))


#: The time of an event that says none (a publisher without ``occurred_at``): older than any event that does.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _occurred(message) -> datetime | None:
    return getattr(message, "occurred_at", None) if message is not None else None


def _set_customer_status(uow: AbstractUnitOfWork, customer_id: str, status: str, at: datetime | None) -> None:
    """The status of the latest event wins, whatever order the events arrive in: a retried or redelivered
    ``account.closed`` of an old account that arrives after the ``account.activated`` of the customer's new
    registration must not hide their documents (and the other way round). An event without a time is applied in
    arrival order but never outranks a timed one (it keeps the stored time)."""
    with uow:
        customer = uow.documents.get_customer(customer_id)
        if customer is None:
            uow.documents.add_customer(model.Customer(customer_id, status, at or UNKNOWN_TIME))
        elif at is None:
            customer.status = status
        elif at >= customer.changed_at:
            customer.status, customer.changed_at = status, at
        else:
            log.info("customer_status_out_of_order", customer_id=customer_id, ignored=status, at=at.isoformat(),
                     kept=customer.status, kept_at=customer.changed_at.isoformat())
        uow.commit()


# ------------------------------------------------------------------------------------------------------------ reads
def _reachable(uow: AbstractUnitOfWork, customer_id: str) -> None:
    customer = uow.documents.get_customer(customer_id)
    if customer is not None and customer.closed:
        raise NotFound(customer_id)


class DocumentPage(NamedTuple):
    documents: list[model.Document]
    unread: int  # unread documents still inside their window, matching the filters (not cut by limit/offset)
    total: int  # documents matching the filters (not cut by limit/offset)


def list_documents(uow: AbstractUnitOfWork, where: DocumentFilter, limit: int, now: datetime, *,
                   offset: int = 0) -> DocumentPage:
    """One page of the customer's documents, newest first, with the unread count and the total; both counts ignore
    ``limit`` and ``offset`` (the home page shows 3 of n; the documents page pages through all n)."""
    with uow:
        found = uow.documents.listing(where, limit, offset, now)
        if found.closed:
            raise NotFound(where.customer_id)
        return DocumentPage(found.documents, found.unread, found.total)


def get_document(uow: AbstractUnitOfWork, customer_id: str, document_id: str) -> model.Document:
    with uow:
        return _owned(uow, customer_id, document_id)


def _owned(uow: AbstractUnitOfWork, customer_id: str, document_id: str) -> model.Document:
    _reachable(uow, customer_id)
    doc = uow.documents.get(document_id)
    if doc is None or doc.customer_id != customer_id:
        raise NotFound(document_id)  # another customer's document looks exactly like a missing one
    return doc


def _lock_if_recording(uow: AbstractUnitOfWork, doc: model.Document, purpose: str | None = None) -> None:
    """The first read publishes ``document.read``, the first view ``document.delivery_recorded``: only then is the
    row locked (two simultaneous first reads or views publish once, and the first view's time is the one kept). A
    download is counted, so it always locks the row: of two simultaneous downloads the second waits for the first's
    commit and counts on top of it (none is lost). Viewing a document already read and viewed locks nothing."""
    if doc.records_when_opened(purpose):
        uow.documents.lock(doc)


def mark_read(uow: AbstractUnitOfWork, customer_id: str, document_id: str, now: datetime) -> None:
    """Mark the document read; the first time, ``document.read`` goes to the outbox in the same transaction."""
    with uow:
        doc = _owned(uow, customer_id, document_id)
        _lock_if_recording(uow, doc)
        doc.mark_read(now)
        uow.commit()


def open_content(uow: AbstractUnitOfWork, store: AbstractObjectStore, customer_id: str, document_id: str,
                 now: datetime, purpose: str = model.DOWNLOAD) -> tuple[model.Document, StoredObject]:
    """Open the document's bytes for streaming, mark it read (the first time: ``document.read``) and write the
    delivery record (``purpose``: ``view`` in the browser or ``download``; when it changes:
    ``document.delivery_recorded``). Raises NotFound, Expired or ContentMissing."""
    with uow:
        doc = _owned(uow, customer_id, document_id)
        if doc.expired(now):
            raise Expired(doc)
        stored = store.open(doc.bucket, doc.key)
        if stored is None:
            log.error("document_content_missing", document_id=doc.document_id, bucket=doc.bucket, key=doc.key)
            raise ContentMissing(document_id)
        try:
            _lock_if_recording(uow, doc, purpose)
            doc.opened(now, purpose)
            uow.commit()
        except Exception:
            stored.close()
            raise
        return doc, stored


def delivery_records(uow: AbstractUnitOfWork, customer_id: str) -> list[model.Document]:
    """Every stored document of a customer with its delivery record (operators; closed registrations too)."""
    with uow:
        return uow.documents.of_customer(customer_id)


def record_announced(cmd: commands.RecordAnnounced, uow: AbstractUnitOfWork) -> bool:
    """``document.announced`` from notify: the new-document e-mail went out at ``sent_at`` (recorded, with
    ``document.delivery_recorded``, unless an earlier sending is). Unknown (already swept, or another customer's
    id): nothing to record."""
    with uow:
        doc = uow.documents.get(cmd.document_id)
        if doc is None or doc.customer_id != cmd.customer_id:
            return False
        doc.announced(cmd.sent_at)
        uow.commit()
        return True


def send_expiry_reminders(uow_factory, now: datetime, days_before: int, *, batch: int = 200) -> list[str]:
    """One ``document.expiring`` per unread document whose window ends within ``days_before`` days (notify e-mails
    the customer once; ``reminder_sent_at`` and the outbox row are written in one transaction). A customer whose
    registration is closed gets none."""
    reminded: list[str] = []
    while True:
        with uow_factory() as uow:
            docs = uow.documents.reminder_candidates(now, now + timedelta(days=days_before), batch)
            for doc in docs:
                customer = uow.documents.get_customer(doc.customer_id)
                if customer is not None and customer.closed:
                    doc.reminder_sent_at = now  # never reminded later either: the registration is over
                    continue
                uow.documents.seen.add(doc)
                doc.remind(now)
                reminded.append(doc.document_id)
            uow.commit()
        if docs:
            log.info("expiry_reminders", count=len(docs))
        if len(docs) < batch:
            return reminded


# ------------------------------------------------------------------------------------------------------- retention
def sweep_expired(uow_factory, store: AbstractObjectStore, now: datetime, *, batch: int = 500,
                  dry_run: bool = False) -> list[str]:
    """Delete every document past its window: the objects first, then the rows (a failed object delete keeps the
    row, so the next sweep tries again; deleting an already deleted object is harmless). Returns the ids."""
    removed: list[str] = []
    while True:
        with uow_factory() as uow:
            docs = uow.documents.expired(now, batch)
            if not docs or dry_run:
                return removed + [d.document_id for d in docs]
            by_bucket: dict[str, list[str]] = {}
            for doc in docs:
                by_bucket.setdefault(doc.bucket, []).append(doc.key)
            for bucket, keys in by_bucket.items():
                store.delete_many(bucket, keys)
            for doc in docs:
                uow.documents.delete(doc)
            uow.after_commit(lambda n=len(docs): metrics.DOCUMENTS_SWEPT.inc(n))
            uow.commit()
            removed += [d.document_id for d in docs]
            log.info("documents_swept", count=len(docs))
        if len(docs) < batch:
            return removed
