"""The delivery loop: sends recorded deliveries, one row per transaction, and settles each one.

Each pass claims one due row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers never send the same
row), renders it, hands it to SMTP or the SMS gateway and records the outcome before committing:

- sent -> ``sent`` with ``sent_at``; the payload's secrets are blanked.
- transient failure -> ``attempts + 1`` and ``next_attempt_at`` pushed back (30 s doubling, capped at
  ``PORTAL_NOTIFY_RETRY_MAX_S``), until the retry horizon (``PORTAL_NOTIFY_RETRY_HORIZON_HOURS`` after the delivery
  was recorded, default 24 h): an SMTP or SMS gateway outage shorter than that loses nothing.
- permanent failure (or a transient one at the horizon) -> ``failed`` + ``notification.failed`` in the outbox, same
  transaction.

A crash between the hand-over and the commit sends that one message again on restart (at-least-once); e-mails keep
the same Message-ID across attempts, so a mail system can drop the double.
Every outcome is logged with the template, the masked recipient and the reason, never the message text.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Callable

from jinja2 import TemplateError

from portal_common import logs
from portal_common.db import utcnow
from portal_common.sealing import SealError, default_sealer

from ..adapters.mailer import Email, Mailer, new_message_id
from ..adapters.repository import AbstractRepository, AbstractStore
from ..adapters.sms import SmsGateway
from ..adapters.templates import Renderer
from ..domain.model import EMAIL, SEALED_FIELDS, Delivery, PermanentDeliveryError, TransientDeliveryError, e164
from ..settings import Settings
from . import metrics
from .recording import publish_announced, publish_failure

log = logs.get_logger(__name__)


class DeliveryLoop:
    def __init__(self, store: AbstractStore, mailer: Mailer, sms: SmsGateway, renderer: Renderer,
                 settings: Settings, clock: Callable[[], datetime] = utcnow, batch_size: int = 50):
        self.store = store
        self.mailer = mailer
        self.sms = sms
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        self.batch_size = batch_size
        self._stop = threading.Event()

    # ------------------------------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        log.info("delivery_loop_started", retry_horizon_s=self.settings.retry_horizon_s,
                 retry_max_s=self.settings.retry_max_s)
        while not self._stop.is_set():
            try:
                done = self.run_once()
            except Exception:  # noqa: BLE001 - the database went away, say: keep the loop alive
                log.exception("delivery_loop_error")
                self._stop.wait(2.0)
                continue
            if not done:
                self._stop.wait(self.settings.poll_interval_s)

    def run_once(self) -> int:
        """Deliver up to ``batch_size`` due rows. Returns how many were handled."""
        handled = 0
        while handled < self.batch_size and not self._stop.is_set() and self.deliver_next():
            handled += 1
        return handled

    def deliver_next(self) -> bool:
        with self.store.transaction() as repo:
            claimed = repo.claim_due(self.clock(), 1)
            if not claimed:
                return False
            delivery = claimed[0]
            logs.bind_correlation_id(delivery.correlation_id)
            self._attempt(repo, delivery)
            repo.save_delivery(delivery)
        return True

    # ------------------------------------------------------------------------------------------- one try
    def _attempt(self, repo: AbstractRepository, d: Delivery) -> None:
        s = self.settings
        fields = dict(delivery_id=d.id, template=d.template, channel=d.channel, to=d.masked_to,
                      cause_event=d.cause_event, cause_event_id=d.cause_event_id)
        try:
            self._send(d)
        except PermanentDeliveryError as exc:
            now = self.clock()
            d.mark_failed(exc.reason, now)
            self._failed(repo, d, now, fields)
        except Exception as exc:  # noqa: BLE001 - transient, or unexpected: retried, then failed
            now = self.clock()
            reason = _reason(exc)
            if d.schedule_retry(reason, now, timedelta(seconds=s.retry_horizon_s), s.retry_base_s, s.retry_max_s):
                metrics.DELIVERIES.labels(d.channel, d.template, "retry").inc()
                log.warning("delivery_retry", attempts=d.attempts, reason=reason,
                            next_attempt_at=d.next_attempt_at.isoformat(), **fields)
            else:
                self._failed(repo, d, now, fields)
        else:
            d.mark_sent(self.clock())
            if d.template == "document_available":
                publish_announced(repo, d)
            metrics.DELIVERIES.labels(d.channel, d.template, "sent").inc()
            log.info("delivery_sent", attempts=d.attempts, sent_at=d.sent_at.isoformat(), **fields)

    def _failed(self, repo: AbstractRepository, d: Delivery, now: datetime, fields: dict) -> None:
        metrics.DELIVERIES.labels(d.channel, d.template, "failed").inc()
        log.error("delivery_failed", attempts=d.attempts, reason=d.last_error, **fields)
        publish_failure(repo, d, now)

    def _send(self, d: Delivery) -> None:
        rendered = self.renderer.render(d.template, d.channel, d.language, opened(d.payload, d.account_id))
        if d.channel == EMAIL:
            if not d.to or "@" not in d.to:
                raise PermanentDeliveryError("invalid e-mail address")
            self.mailer.send(Email(to=d.to, subject=rendered.subject, text=rendered.text, html=rendered.html,
                                   message_id=new_message_id(d.id, self.settings.smtp_from)))
        else:
            number = e164(d.to)
            if number is None:
                raise PermanentDeliveryError("invalid mobile number")
            self.sms.send(number, rendered.text)


def opened(payload: dict, account_id: str | None) -> dict:
    """The payload with its sealed secrets opened, in memory only, for one rendering. A value that does not open
    (unknown key id, tampered, sealed for another account) can never be sent: a permanent failure, reported.
    Rows recorded before secrets were sealed hold them in clear (and blanked once sent): those pass unchanged."""
    payload = dict(payload)
    for sealed_key, plain_key in SEALED_FIELDS.items():
        if sealed_key in payload:
            try:
                payload[plain_key] = default_sealer().open(payload.pop(sealed_key), account_id or "")
            except SealError as exc:
                raise PermanentDeliveryError(f"secret could not be opened: {exc}") from exc
    return payload


def _reason(exc: Exception) -> str:
    if isinstance(exc, TransientDeliveryError):
        return exc.reason
    if isinstance(exc, TemplateError):
        return f"template error: {type(exc).__name__}: {str(exc)[:200]}"
    # Never str(exc) of an arbitrary error: it may quote the message being sent.
    return f"unexpected error: {type(exc).__name__}"
