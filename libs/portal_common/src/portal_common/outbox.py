"""Transactional outbox: events are rows written in the same transaction as the state change; a relay publishes.

A broker outage therefore never fails the request that caused the event — the rows wait and drain when the broker
is back. The relay claims rows with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), so several workers of one service can
relay side by side; a crashed relay's claim is released with its transaction and the rows are taken up again.
The sweeper pass re-publishes rows whose earlier attempt failed once their back-off has passed (eShop's
``IntegrationEventLogEF`` has no such pass and leaves failed events stuck forever).

Usage, inside a handler's or a request's transaction::

    add_event(session, "policy.enrolled", {"policy_number": "KGFB-1", ...})
"""
from __future__ import annotations

import json
import threading
from collections import Counter
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import MetaData, Table, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import logs, metrics
from .bus import OutgoingMessage, Publisher, PublishError, PublishFailure
from .db import plumbing_tables, utcnow

log = logs.get_logger(__name__)

_tables: dict[int, Table] = {}


def outbox_table(metadata: MetaData | None = None) -> Table:
    if metadata is not None:
        return plumbing_tables(metadata)[0]
    key = 0
    if key not in _tables:
        _tables[key] = plumbing_tables(MetaData())[0]
    return _tables[key]


def add_event(session: Session, name: str, payload: dict, *, version: int = 1, event_id: str | None = None,
              secret_fields: Iterable[str] = (), correlation_id: str | None = None) -> str:
    """Stage ``name`` for publishing when ``session`` commits. Returns the event id (= AMQP message_id).

    ``secret_fields`` (e.g. a one-time password) are blanked in the stored row once the broker has confirmed the
    message, so the database does not keep them longer than needed.
    """
    event_id = event_id or str(uuid.uuid4())
    now = utcnow()
    session.execute(
        outbox_table().insert().values(
            event_id=event_id,
            event=name,
            version=version,
            payload=json.dumps(payload, ensure_ascii=False, default=_iso),
            secret_fields=json.dumps(list(secret_fields)) if secret_fields else None,
            correlation_id=correlation_id or logs.current_correlation_id() or event_id,
            occurred_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )
    return event_id


def _iso(value):
    """Dates and datetimes go on the wire as ISO 8601 (``2026-11-21T10:00:00+00:00``), never ``str()``'s space."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def backlog(session: Session) -> int:
    t = outbox_table()
    return session.execute(select(func.count()).select_from(t).where(t.c.published_at.is_(None))).scalar_one()


def oldest_unpublished_age(session: Session, now: datetime) -> float:
    """Seconds since the oldest unpublished row's event occurred (0 when every row is published): the alert
    PortalOutboxStuck fires when this passes a minute, whatever the reason (broker down, relay dead, poison row)."""
    t = outbox_table()
    oldest = session.execute(select(func.min(t.c.occurred_at)).where(t.c.published_at.is_(None))).scalar_one()
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite returns naive values from aggregates
        oldest = oldest.replace(tzinfo=timezone.utc)
    return max(0.0, (now - oldest).total_seconds())


class OutboxRelay:
    """Publishes outbox rows in batches with pipelined confirms; run :meth:`run_forever` in a worker thread."""

    def __init__(self, service: str, session_factory: sessionmaker, publisher: Publisher, *, batch_size: int = 1000,
                 idle_interval: float = 0.1, sweep_interval: float = 5.0, max_backoff: float = 30.0,
                 unrouted_ok: Iterable[str] = ()):
        self.service = service
        #: events only live subscribers take (the gateway's exclusive per-process queues; no queue of
        #: topology.json is bound for them): while none is subscribed the broker returns them unroutable, which
        #: is no failure — nobody is there to tell. Marked published and counted as unrouted, never retried.
        self.unrouted_ok = frozenset(unrouted_ok)
        self.session_factory = session_factory
        self.publisher = publisher
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.sweep_interval = sweep_interval
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._last_sweep = 0.0
        self._last_backlog = 0.0
        self.healthy = True

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        log.info("outbox_relay_started", batch_size=self.batch_size)
        while not self._stop.is_set():
            published = 0
            try:
                published = self.relay_once()
                if time.monotonic() - self._last_sweep > self.sweep_interval:
                    self._last_sweep = time.monotonic()
                    published += self.sweep_once()
            except Exception:  # noqa: BLE001 - the relay must outlive any single failure
                log.exception("outbox_relay_error")
                self.healthy = False
            self._report_backlog()
            if not published:
                # Idle, or a broker outage: back off instead of reconnecting ten times a second.
                self._stop.wait(self.idle_interval if self.healthy else 1.0)
        self.publisher.close()

    def relay_once(self) -> int:
        """Publish fresh rows (never attempted). Returns how many were confirmed."""
        return self._publish_rows(fresh=True)

    def sweep_once(self) -> int:
        """Re-publish rows left behind by a failed attempt, once their back-off has passed."""
        return self._publish_rows(fresh=False)

    def _report_backlog(self) -> None:
        """Refresh the backlog gauge at most once a second; a database outage leaves the last value in place."""
        if time.monotonic() - self._last_backlog < 1.0:
            return
        self._last_backlog = time.monotonic()
        try:
            with self.session_factory() as session:
                metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog(session))
                metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(oldest_unpublished_age(session, utcnow()))
        except Exception:  # noqa: BLE001 - metrics must never stop the relay
            log.warning("outbox_backlog_unknown")

    def _publish_rows(self, fresh: bool) -> int:
        t = outbox_table()
        now = utcnow()
        with self.session_factory() as session, session.begin():
            query = select(t).where(t.c.published_at.is_(None))
            # A fresh row is due at once: its next_attempt_at is its writer's clock, and an API pod whose clock runs
            # ahead of this relay's would otherwise hold its events back by that much. Only a retry's back-off,
            # written by this relay's own clock, is waited out.
            query = query.where(t.c.attempts == 0) if fresh else query.where(t.c.attempts > 0,
                                                                             t.c.next_attempt_at <= now)
            query = query.order_by(t.c.seq).limit(self.batch_size).with_for_update(skip_locked=True)
            rows = session.execute(query).mappings().all()
            if not rows:
                return 0
            messages = [
                OutgoingMessage.for_event(row["event_id"], row["event"], row["payload"],
                                          version=row["version"], occurred_at=row["occurred_at"].isoformat(),
                                          correlation_id=row["correlation_id"])
                for row in rows
            ]
            try:
                results = self.publisher.publish_batch(messages)
                self.healthy = True
            except PublishError as exc:
                self.healthy = False
                results = {m.message_id: PublishFailure(str(exc), "broker_unavailable") for m in messages}
            self._record(session, rows, results, now)
        return sum(1 for error in results.values() if error is None)

    def _record(self, session: Session, rows, results: dict, now: datetime) -> None:
        t = outbox_table()
        unrouted = [r for r in rows if r["event"] in self.unrouted_ok
                    and getattr(results.get(r["event_id"]), "kind", None) == "unroutable"]
        for row in unrouted:
            results[row["event_id"]] = None
            metrics.MESSAGES_UNROUTED.labels(self.service, row["event"]).inc()
            log.debug("outbox_event_unrouted", event_type=row["event"], event_id=row["event_id"],
                      correlation_id=row["correlation_id"])
        unrouted_ids = {r["event_id"] for r in unrouted}
        ok = [r for r in rows if results.get(r["event_id"], "missing") is None]
        if ok:
            session.execute(update(t).where(t.c.seq.in_([r["seq"] for r in ok])).values(published_at=now,
                                                                                         last_error=None))
            self._scrub_secrets(session, ok)
            for event, n in Counter(r["event"] for r in ok if r["event_id"] not in unrouted_ids).items():
                metrics.MESSAGES_PUBLISHED.labels(self.service, event).inc(n)
        for row in rows:
            error = results.get(row["event_id"], "no confirm received")
            if error is None:
                continue
            attempts = row["attempts"] + 1
            delay = min(self.max_backoff, 2 ** min(attempts, 10))
            session.execute(update(t).where(t.c.seq == row["seq"]).values(
                attempts=attempts, last_error=error[:2000], next_attempt_at=now + timedelta(seconds=delay)))
            metrics.PUBLISH_FAILURES.labels(self.service, getattr(error, "kind", "no_confirm")).inc()
            log.warning("outbox_publish_failed", event_type=row["event"], event_id=row["event_id"], attempts=attempts,
                        retry_in_s=delay, error=error, correlation_id=row["correlation_id"])

    @staticmethod
    def _scrub_secrets(session: Session, rows) -> None:
        t = outbox_table()
        for row in rows:
            if not row["secret_fields"]:
                continue
            payload = json.loads(row["payload"])
            for name in json.loads(row["secret_fields"]):
                if name in payload:
                    payload[name] = "[sent]"
            session.execute(update(t).where(t.c.seq == row["seq"]).values(payload=json.dumps(payload)))
