"""The idempotent consumer: manual ack after commit, dedup by message id, bounded retries, dead-lettering.

For each batch of prefetched messages the worker opens one database transaction; every message is applied in its
own savepoint together with its ``processed_messages`` row (the idempotency key), the transaction commits, and only
then are the messages acked. A crash before the commit redelivers the batch; a crash after it redelivers messages
that are then recognised as already processed and acked without effect.

- invalid JSON, an unknown event, a schema violation or :class:`PermanentError` -> dead-letter queue at once, with
  the reason in ``x-dead-reason``; the worker goes on with the next message.
- any other exception -> retried with back-off a bounded number of times, then dead-lettered.
- the database unreachable -> the batch is held (not acked, not requeued) and retried until the database is back,
  so an outage does not burn the queue's delivery limit.
- the broker connection lost -> reconnect with back-off; unacked messages come back and are deduplicated.
See https://microservices.io/patterns/communication-style/idempotent-consumer.html
"""
from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from kombu import Consumer
from structlog.contextvars import clear_contextvars
from marshmallow import Schema, ValidationError
from sqlalchemy import MetaData, Table, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import logs, metrics
from .bus import OutgoingMessage, Publisher, PublishError, Topology, connect, declare_topology, is_amqp, service_queues
from .db import plumbing_tables, utcnow

log = logs.get_logger(__name__)
_processed: Table = plumbing_tables(MetaData())[1]


class PermanentError(Exception):
    """The message can never be applied (unknown policy, checksum mismatch …): dead-letter it with this reason."""


@dataclass
class MessageMeta:
    message_id: str
    event: str
    version: int
    correlation_id: str
    headers: dict
    redelivered: bool


@dataclass
class Handler:
    """``fn(data, session, meta)`` applies one event inside the caller's transaction; it never commits.

    A handler may run more than once for one delivery: a batch is first applied in one go, and when any of its
    handlers fails the batch is rolled back and applied again message by message. Database effects are rolled back
    with it; anything done outside the transaction (an S3 copy, a metric) must be idempotent or happen after the
    commit (``sqlalchemy.event.listen(session, "after_commit", ...)``).
    """

    fn: Callable[[dict, Session, MessageMeta], None]
    schema: Schema | None = None


@dataclass
class _Delivery:
    message: object
    meta: MessageMeta | None = None
    data: dict | None = None
    error: str | None = None  # set -> dead-letter with this reason
    transient: str | None = None  # set -> retry on its own
    outcome: str = "pending"
    attempts: int = 0
    extra: dict = field(default_factory=dict)


class Worker:
    def __init__(self, service: str, handlers: dict[str, Handler], session_factory: sessionmaker,
                 topology: Topology, *, url: str | None = None, batch_size: int = 100, max_wait: float = 0.05,
                 retry_delays: tuple[float, ...] = (0.2, 1.0, 3.0), dead_letter_publisher: Publisher | None = None):
        self.service = service
        self.handlers = handlers
        self.session_factory = session_factory
        self.topology = topology
        self.url = url
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.retry_delays = retry_delays
        self.dead_letters = dead_letter_publisher or Publisher(topology, url=url)
        self.connected = False
        self._stop = threading.Event()
        self._buffer: list[_Delivery] = []

    # ------------------------------------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                delay = 0.5
            except Exception as exc:  # noqa: BLE001 - reconnect on any broker trouble
                self.connected = False
                self._buffer.clear()  # unacked: the broker redelivers them
                log.warning("consumer_disconnected", error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 15.0)
        self.dead_letters.close()

    def _consume(self) -> None:
        with connect(self.url) as conn:
            conn.connect()
            declare_topology(conn, self.topology)
            queue, _dead = service_queues(self.topology, self.service, is_amqp(conn))
            channel = conn.channel()
            consumer = Consumer(channel, queues=[queue], on_message=self._on_message, no_ack=False,
                                auto_declare=False)
            # Quorum queues reject a global QoS: prefetch applies per consumer.
            consumer.qos(prefetch_count=self.batch_size * 2, apply_global=False)
            with consumer:
                self.connected = True
                log.info("consumer_started", queue=queue.name)
                first_at = None
                while not self._stop.is_set():
                    try:
                        conn.drain_events(timeout=self.max_wait)
                    except (socket.timeout, TimeoutError):
                        pass
                    if self._buffer and first_at is None:
                        first_at = time.monotonic()
                    if self._buffer and (len(self._buffer) >= self.batch_size
                                         or time.monotonic() - first_at >= self.max_wait):
                        self._flush(conn)
                        first_at = None
                    if is_amqp(conn):
                        conn.heartbeat_check()
                if self._buffer:
                    self._flush(conn)

    def _on_message(self, message) -> None:
        self._buffer.append(_Delivery(message))

    # -------------------------------------------------------------------------------------------------- batches
    def _flush(self, conn) -> None:
        batch, self._buffer = self._buffer, []
        clear_contextvars()  # nothing of the previous batch may leak into this one's log lines
        for d in batch:
            self._prepare(d)
        self._apply_batch_until_db_is_back(batch, conn)
        for d in batch:
            if d.transient:
                self._retry_alone(d)
        for d in batch:
            if d.error:
                self._dead_letter(d)
        for d in batch:
            d.message.ack()
            metrics.MESSAGES_CONSUMED.labels(self.service, d.meta.event if d.meta else "?", d.outcome).inc()

    def _apply_batch_until_db_is_back(self, batch, conn) -> None:
        delay = 0.5
        while True:
            try:
                self._apply_batch(batch)
                return
            except (OperationalError, DBAPIError) as exc:
                if not _is_connectivity(exc):
                    # One message broke the whole commit (a constraint deferred to commit time, say):
                    # fall back to one transaction per message so the others are not held hostage.
                    for d in batch:
                        if d.error is None:
                            d.transient, d.outcome = f"{type(exc).__name__}: {exc}", "pending"
                    return
                log.warning("consumer_database_unavailable", error=str(exc).splitlines()[0], retry_in_s=delay,
                            message_ids=[d.meta.message_id for d in batch if d.meta])
                for d in batch:
                    if d.error is None:
                        d.outcome, d.transient = "pending", None
                self._sleep_with_heartbeats(conn, delay)
                delay = min(delay * 2, 30.0)

    def _apply_batch(self, batch) -> None:
        """Fast path: one transaction, one dedup query, no savepoints. If any handler fails, roll back and apply the
        batch again with a savepoint per message, so one bad message cannot take the others down with it."""
        todo = [d for d in batch if d.error is None and d.transient is None]
        if not todo:
            return
        with self.session_factory() as session, session.begin():
            seen = self._already_processed(session, todo)
            fresh = []
            for d in todo:
                if d.meta.message_id in seen:
                    d.outcome = "duplicate"
                    _log_message("info", "message_duplicate", d)
                else:
                    seen.add(d.meta.message_id)  # the same message twice within one batch
                    fresh.append(d)
            try:
                with session.begin_nested():
                    for d in fresh:
                        logs.bind_correlation_id(d.meta.correlation_id)
                        self.handlers[d.meta.event].fn(d.data, session, d.meta)
                    self._mark_processed(session, fresh)
            except OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001 - fall back to per-message savepoints below
                log.info("consumer_batch_fallback", error=f"{type(exc).__name__}: {exc}", size=len(fresh),
                         message_ids=[d.meta.message_id for d in fresh])
                for d in fresh:
                    self._apply(session, d)
                return
            for d in fresh:
                d.outcome = "applied"
                _log_message("info", "message_applied", d)

    @staticmethod
    def _already_processed(session: Session, deliveries) -> set[str]:
        ids = [d.meta.message_id for d in deliveries]
        rows = session.execute(select(_processed.c.message_id).where(_processed.c.message_id.in_(ids)))
        return {row[0] for row in rows}

    @staticmethod
    def _mark_processed(session: Session, deliveries) -> None:
        if deliveries:
            now = utcnow()
            session.execute(_processed.insert(), [
                {"message_id": d.meta.message_id, "event": d.meta.event, "processed_at": now} for d in deliveries])

    def _sleep_with_heartbeats(self, conn, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._stop.is_set():
            if is_amqp(conn):
                conn.heartbeat_check()
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))

    def _prepare(self, d: _Delivery) -> None:
        """Decode, identify and validate; failures here are permanent."""
        message = d.message
        props = message.properties or {}
        headers = dict(message.headers or {})
        routing_key = (message.delivery_info or {}).get("routing_key", "")
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        # The routing key is the only event name the broker checked against the publisher's rights (its topic
        # permissions, deploy/rabbitmq/permissions.json); the ``event`` header and ``type`` are the publisher's say.
        event = str(routing_key)
        claimed = headers.get("event") or props.get("type")
        if claimed and str(claimed) != event:
            log.warning("event_header_ignored", routing_key=event, claimed=str(claimed)[:100])
        message_id = props.get("message_id") or "sha256:" + hashlib.sha256(body).hexdigest()
        d.meta = MessageMeta(
            message_id=str(message_id), event=event, version=int(headers.get("version") or 1),
            correlation_id=str(headers.get("correlation_id") or message_id), headers=headers,
            redelivered=bool((message.delivery_info or {}).get("redelivered")),
        )
        try:
            raw = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            d.error = f"invalid JSON: {exc}"
            return
        handler = self.handlers.get(event)
        if handler is None:
            d.error = f"no handler for event {event!r} (version {d.meta.version}) in {self.service}"
            return
        if not isinstance(raw, dict):
            d.error = "invalid message: the body must be a JSON object"
            return
        try:
            d.data = handler.schema.load(raw) if handler.schema is not None else raw
        except ValidationError as exc:
            d.error = "schema violation: " + json.dumps(exc.messages, ensure_ascii=False, sort_keys=True)

    def _apply(self, session: Session, d: _Delivery) -> None:
        logs.bind_correlation_id(d.meta.correlation_id)
        if session.execute(select(_processed.c.message_id).where(
                _processed.c.message_id == d.meta.message_id)).first():
            d.outcome = "duplicate"
            _log_message("info", "message_duplicate", d)
            return
        try:
            with session.begin_nested():
                self.handlers[d.meta.event].fn(d.data, session, d.meta)
                session.execute(_processed.insert().values(
                    message_id=d.meta.message_id, event=d.meta.event, processed_at=utcnow()))
            d.outcome = "applied"
            _log_message("info", "message_applied", d)
        except PermanentError as exc:
            d.error = str(exc)
        except IntegrityError as exc:
            if "processed_messages" in str(exc):
                d.outcome = "duplicate"  # a concurrent worker applied it first
            else:
                d.transient = f"IntegrityError: {str(exc).splitlines()[0]}"
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else may be transient: retry
            d.transient = f"{type(exc).__name__}: {exc}"

    def _retry_alone(self, d: _Delivery) -> None:
        for delay in self.retry_delays:
            metrics.MESSAGES_RETRIED.labels(self.service, d.meta.event).inc()
            _log_message("warning", "message_retry", d, error=d.transient,
                        retry_in_s=delay)
            time.sleep(delay)
            d.transient = None
            try:
                with self.session_factory() as session, session.begin():
                    self._apply(session, d)
            except Exception as exc:  # noqa: BLE001 - the commit itself failed
                d.transient = f"{type(exc).__name__}: {exc}"
            if d.transient is None:  # applied, a duplicate, or found to be permanent (d.error)
                return
        d.error = f"gave up after {len(self.retry_delays) + 1} attempts: {d.transient}"
        d.transient = None

    def _dead_letter(self, d: _Delivery) -> None:
        message = d.message
        props = message.properties or {}
        headers = dict(message.headers or {})
        headers.update({"x-dead-reason": d.error[:4000], "x-dead-queue": self.topology.for_service(self.service).queue,
                        "x-dead-at": utcnow().isoformat(), "x-dead-service": self.service})
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        out = OutgoingMessage(d.meta.message_id, self.service, body, headers,
                              exchange=self.topology.dead_letter_exchange, type=props.get("type") or d.meta.event)
        results = self.dead_letters.publish_batch([out])  # raises PublishError -> not acked -> redelivered
        if results.get(out.message_id) is not None:
            raise PublishError(f"dead-letter publish failed: {results[out.message_id]}")
        d.outcome = "dead_lettered"
        metrics.MESSAGES_DEAD_LETTERED.labels(self.service, d.meta.event, d.error.split(":")[0][:40]).inc()
        _log_message("error", "message_dead_lettered", d, reason=d.error)


def _log_message(level: str, what: str, d: _Delivery, **fields) -> None:
    """A log line about one message: its event, message id and correlation id, whatever else is bound."""
    getattr(log, level)(what, event_type=d.meta.event, message_id=d.meta.message_id,
                        correlation_id=d.meta.correlation_id, **fields)


def _is_connectivity(exc: DBAPIError) -> bool:
    if getattr(exc, "connection_invalidated", False):
        return True
    text = str(exc).lower()
    return any(s in text for s in ("could not connect", "connection refused", "server closed the connection",
                                   "terminating connection", "database is locked", "connection reset"))
