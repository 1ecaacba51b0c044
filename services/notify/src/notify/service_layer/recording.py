"""Recording deliveries: what the consumer does with an event, inside the worker's transaction.

Nothing is sent here. The handler only writes rows (and moves the contact projection); the delivery loop sends
them later. A redelivered event therefore never sends twice: the worker's ``processed_messages`` check stops it
first, and the unique key (cause event, template, channel) stops it even if that check were bypassed.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from portal_common import logs
from portal_common.messagebus import Message
from portal_common.uow import JoinedSession

from ..adapters.repository import AbstractRepository, SqlAlchemyRepository
from ..domain import messages
from ..domain.events import DocumentAnnounced, NotificationFailed
from ..domain.model import FAILED, SKIPPED, Delivery
from . import metrics

log = logs.get_logger(__name__)


class EventFields(dict):
    """The command of every notify route: the fields the event's schema loaded (each event plans its messages
    from its own fields, domain/messages.py)."""


class JoinedRecording(JoinedSession):
    """The unit of work inside the worker's transaction: the repository on the consumer's session."""

    def bind(self, session):
        self.repo = SqlAlchemyRepository(session)


def record_event(data: EventFields, *, uow: JoinedRecording, message: Message, clock: Callable[[], datetime]
                 ) -> list[Delivery]:
    """A routed event: record its deliveries in the worker's transaction (the worker commits, then acks).
    ``message.occurred_at`` is the ``occurred_at`` header the portal's outbox sets (absent on a bare message)."""
    return record(message.event, dict(data), message_id=message.message_id, now=clock(), repo=uow.repo,
                  correlation_id=message.correlation_id, occurred_at=message.occurred_at)


def record(event: str, data: dict, *, message_id: str, now: datetime, repo: AbstractRepository,
           correlation_id: str | None = None, occurred_at: datetime | None = None) -> list[Delivery]:
    """Record the messages ``event`` asks for; returns the deliveries actually added (none for a duplicate).
    ``occurred_at``: when the event happened (the message's header), else ``now``."""
    customer_id = data.get("customer_id")
    contact = repo.get_contact(customer_id) if customer_id else None
    planned = messages.plan(event, data, contact, occurred_at=occurred_at or now)
    updated = messages.project(event, data, contact, now)
    if updated is not None:
        repo.save_contact(updated)
    added = []
    for p in planned:
        d = Delivery(cause_event_id=message_id, cause_event=event, template=p.template, channel=p.channel, to=p.to,
                     language=p.language, payload=p.payload, created_at=now, next_attempt_at=now,
                     account_id=p.account_id, customer_id=p.customer_id, correlation_id=correlation_id,
                     subject_key=p.subject_key)
        if p.skip_reason:
            # A skipped row does not claim the subject: a later announcement of the same document (after the
            # customer has declared) must still be able to send its one e-mail.
            d.status, d.last_error, d.subject_key = SKIPPED, p.skip_reason, None
            d.forget_secrets()
        elif p.fail_reason:
            d.mark_failed(p.fail_reason, now, attempted=False)
        if not repo.add_delivery(d):
            log.info("delivery_duplicate", template=d.template, channel=d.channel, cause_event=event,
                     cause_event_id=message_id)
            continue
        added.append(d)
        metrics.DELIVERIES.labels(d.channel, d.template, d.status).inc()
        log.info("delivery_recorded", delivery_id=d.id, template=d.template, channel=d.channel, to=d.masked_to,
                 status=d.status, reason=d.last_error, cause_event=event, cause_event_id=message_id)
        if d.status == FAILED:
            publish_failure(repo, d, now)
    return added


def publish_failure(repo: AbstractRepository, d: Delivery, now: datetime) -> str:
    """``notification.failed`` into the outbox, in the same transaction as the delivery's new status."""
    event = failure_event(d, now)
    return repo.add_event(event.name, event.payload(), correlation_id=d.correlation_id)


def failure_event(d: Delivery, now: datetime) -> NotificationFailed:
    return NotificationFailed(
        notification_id=d.id, cause_event_id=d.cause_event_id, cause_event=d.cause_event, channel=d.channel,
        template=d.template, account_id=d.account_id, customer_id=d.customer_id, reason=d.last_error or "unknown",
        failed_at=now)


def publish_announced(repo: AbstractRepository, d: Delivery) -> str:
    """``document.announced`` into the outbox, in the same transaction as ``sent``: the documents service writes the
    moment into the document's delivery record."""
    event = DocumentAnnounced(document_id=d.payload.get("document_id"), customer_id=d.customer_id,
                              notification_id=d.id, channel=d.channel, sent_at=d.sent_at)
    return repo.add_event(event.name, event.payload(), correlation_id=d.correlation_id)
