"""The idempotent consumer: manual ack after commit, dedup by message id, delayed retries, dead-lettering.

For each batch of prefetched deliveries the worker

1. decodes every delivery on its own (:mod:`portal_common.delivery`): an unreadable one — bad header types,
   unknown event, not JSON, too large or too deep, wrong content type, schema violation — is dead-lettered alone, at
   once, with its reason; the rest of the batch goes on, and the consumer never reconnects because of it;
2. applies the others in one database transaction through the service's :class:`~portal_common.messagebus.MessageBus`
   (each handler gets a unit of work that joins the transaction, and an after-commit hook), together with their
   ``processed_messages`` rows (the idempotency key); when one handler fails, the batch is rolled back and applied
   again with a savepoint per message, so the failure stays with its message;
3. commits, runs the after-commit work of the messages that were applied, then settles the failures by kind
   (:mod:`portal_common.errors`): permanent -> ``<service>.dead`` with ``x-dead-reason``; transient -> the next
   retry tier (:mod:`portal_common.retry`), dead-lettered with the attempt history after the retry horizon;
4. acks every delivery (a retried or dead-lettered one only once the broker confirmed its new copy).

The database unreachable -> the batch is held (not acked, not requeued) and applied again when the database is
back, so an outage does not burn the queue's delivery limit. The broker connection lost -> reconnect with back-off;
unacked messages come back and are deduplicated.
See https://microservices.io/patterns/communication-style/idempotent-consumer.html

Several batches at once (``consumers`` > 1, RabbitMQ only): still **one** connection, one channel and one
``basic.consume`` per worker process, and ``consumers`` applier threads that each apply a whole batch in a
transaction of their own; the consuming thread hands out batches and acknowledges them as they finish, in any order
(:class:`_Acks`). Not one channel per applier, because of how RabbitMQ 3.10 counts a quorum queue's delivery
limit: every unacknowledged delivery that a dying channel hands back counts as a failed delivery, and when several
channels die together (a broker cut, a restart) the broker notices them one after the other and meanwhile gives
what the first one handed back to the next, still-"open" one, which hands it back again. One cut then counted up to
one return per channel: with 8 channels in the documents worker a message reached the limit of 5 and was
dead-lettered without ever failing (docs/benchmarks.md, "a broker cut and the delivery limit"). With one channel
per process a cut costs a held message at most one return per worker process.

Concurrent batches and locks: batches applied at once (appliers, replicas) may write the same rows — a redelivered
or re-sent document in two batches, in different orders — and two transactions that insert or update the same keys
in opposite orders deadlock in PostgreSQL. So on PostgreSQL each batch's transaction first takes a
transaction-scoped advisory lock on every row name its messages' routes declare (``Route.locks``), all of them in one
statement, sorted: two batches that share names meet at the first shared one and the second waits for the first
to commit; no cycle can form. The ``processed_messages`` rows are inserted sorted by message id for the same
reason. A deadlock or serialization failure that still happens (rows no route names; the API or the retention
sweep in the same rows) is a *conflict* (:func:`~portal_common.errors.is_conflict`): the batch is rolled back and
applied again at once, logged as ``consumer_transaction_conflict_retried`` — not as "database unavailable".
"""
from __future__ import annotations

import hashlib
import queue as queues
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from kombu import Consumer
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from structlog.contextvars import clear_contextvars

from . import logs, metrics, retry
from .bus import OutgoingMessage, Publisher, PublishError, Topology, connect, declare_topology, service_queues
from .compat import FileBusRetryPump, ack_batch, coalesced_writes, is_amqp, park_headers, read_ahead
from .db import plumbing_tables, utcnow
from .delivery import Identity, Limits, decode, identify
from .errors import (DuplicateMessage, Kind, PermanentError, PoisonMessage, TransientError, classify, describe,
                     is_conflict, is_database_unavailable, reason_label)
from .messagebus import Locked, Message, MessageBus
from .uow import AfterCommit

__all__ = ["Worker", "PermanentError", "TransientError", "PoisonMessage"]

log = logs.get_logger(__name__)
_processed: Table = plumbing_tables(MetaData())[1]
# PostgreSQL: the batch's ids as one array parameter (psycopg2 adapts a list in C). Same table, same rows.
_SEEN_PG = text("SELECT message_id FROM processed_messages WHERE message_id = ANY(CAST(:ids AS varchar[]))")
_MARK_PG = text("INSERT INTO processed_messages (message_id, event, processed_at) "
                "SELECT unnest(CAST(:ids AS varchar[])), unnest(CAST(:events AS varchar[])), :now")
# One transaction-scoped advisory lock per row name, taken in the order of the (sorted) array: a function scan
# returns the array's elements in order and the select list is evaluated row by row.
_LOCK_PG = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


def lock_key(name: str) -> int:
    """A row name as PostgreSQL's bigint advisory-lock key (stable across processes, unlike ``hash()``). Two names
    with the same key only wait for each other needlessly."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _must_raise(exc: BaseException) -> bool:
    """Errors that are about the whole transaction, not one message: the batch is applied again as a whole."""
    return is_database_unavailable(exc) or is_conflict(exc)


def _on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


class _Stopping(Exception):
    """The worker was asked to stop while it held a batch the database could not take."""


@dataclass
class _Delivery:
    raw: object
    ident: Identity | None = None
    message: Message | None = None
    fields: dict | None = None
    failure: BaseException | None = None
    locked: Locked | None = None  # its command and the names of the rows its handler writes (Route.locks)
    outcome: str = "pending"  # applied | duplicate | retried | dead_lettered
    after: AfterCommit = field(default_factory=AfterCommit)

    @property
    def todo(self) -> bool:
        return self.failure is None and self.outcome == "pending"


class Worker:
    """Consumes ``<service>.events`` and applies each event through ``bus`` (see the module docstring)."""

    def __init__(self, service: str, bus: MessageBus, session_factory: sessionmaker, topology: Topology, *,
                 url: str | None = None, batch_size: int = 100, max_wait: float = 0.05,
                 retry_policy: retry.RetryPolicy | None = None, limits: Limits | None = None,
                 publisher: Publisher | None = None, consumers: int = 1):
        self.service = service
        self.bus = bus
        self.session_factory = session_factory
        self.topology = topology
        self.url = url
        self.batch_size = batch_size
        self.max_wait = max_wait
        self.retry_policy = retry_policy or retry.RetryPolicy.from_env(service)
        self.limits = limits or Limits.from_env()
        self.publisher = publisher or Publisher(topology, url=url)
        # Batches applied at once. On RabbitMQ only (the file bus is for one consumer); see the module docstring.
        self.consumers = max(1, consumers) if url else 1
        self.connected = False
        self.connections = 0  # how often the consumer (re)connected: a poison delivery must never add one
        self._amqp = bool(url)
        self._stop = threading.Event()
        self._buffer: list[_Delivery] = []
        self._accepting = True  # False while a worker with appliers stops: nothing new is taken any more

    # ------------------------------------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        appliers = _Appliers(self) if self.consumers > 1 else None
        delay = 0.5
        while not self._stop.is_set():
            try:
                if appliers is None:
                    self._consume()
                else:
                    self._consume_with(appliers)
                delay = 0.5
            except _Stopping as exc:
                self._buffer.clear()  # unacked: the broker redelivers them
                log.info("consumer_stopped_while_the_database_is_down", detail=str(exc))
            except Exception as exc:  # noqa: BLE001 - reconnect on any broker trouble
                self.connected = False
                self._buffer.clear()  # unacked: the broker redelivers them
                # The publisher (retries, dead letters) used the same broker: after a cut its connection is dead
                # too. Left open, the first publish of the next batch fails on it and hands that batch back once
                # more — and each hand-back counts towards the quorum queue's delivery limit.
                self.publisher.close()
                log.warning("consumer_disconnected", error=describe(exc), retry_in_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 15.0)
        self.publisher.close()
        if appliers is not None:
            appliers.stop()

    def _consume(self) -> None:
        with connect(self.url) as conn:
            queue, _channel, consumer = self._subscribe(conn, prefetch=self.batch_size * 2)
            pump = None if self._amqp else FileBusRetryPump(conn, self.topology, self.service)
            if self._amqp:
                read_ahead(conn)
            with consumer:
                self.connected = True
                self.connections += 1
                log.info("consumer_started", queue=queue.name)
                first_at = None
                next_heartbeat = 0.0
                while not self._stop.is_set():
                    now = self._drain(conn)
                    if self._buffer and first_at is None:
                        first_at = now
                    if self._buffer and (len(self._buffer) >= self.batch_size or now - first_at >= self.max_wait):
                        self._flush(conn)
                        first_at = None
                    if pump is not None:
                        pump.pump()
                    if self._amqp and now >= next_heartbeat:  # a heartbeat is due every 15 s (heartbeat=30)
                        conn.heartbeat_check()
                        next_heartbeat = now + 1.0
                if self._buffer:
                    self._flush(conn)

    def _subscribe(self, conn, prefetch: int):
        """Connect, declare the topology, and make one consumer of the service's queue on a new channel with
        ``prefetch`` unacknowledged deliveries (quorum queues reject a global QoS: prefetch applies per consumer).
        Returns ``(queue, channel, consumer)``; the consumer is not started yet."""
        conn.connect()
        declare_topology(conn, self.topology)
        self._amqp = is_amqp(conn)
        queue, _dead = service_queues(self.topology, self.service, self._amqp)
        channel = conn.channel()
        consumer = Consumer(channel, queues=[queue], on_message=self._buffer_delivery, no_ack=False,
                            auto_declare=False)
        consumer.qos(prefetch_count=prefetch, apply_global=False)
        return queue, channel, consumer

    def _drain(self, conn) -> float:
        """Wait up to ``max_wait`` for deliveries (they land in the buffer); returns the monotonic time after."""
        try:
            conn.drain_events(timeout=self.max_wait)
        except (socket.timeout, TimeoutError):
            pass
        return time.monotonic()

    def _buffer_delivery(self, raw) -> None:
        if self._accepting:
            self._buffer.append(_Delivery(raw))

    # ------------------------------------------------------------------------------- several batches at once
    def _consume_with(self, appliers: "_Appliers") -> None:
        """One connection, one channel, one consumer; the batches go to ``appliers`` (see the module docstring).

        This thread only reads deliveries, hands out batches, acknowledges finished ones and keeps the heartbeats
        (also while the appliers wait for the database). An applier's failure (a retry copy not confirmed, say)
        drops the connection, as it does with one consumer: the broker gives the unacknowledged deliveries again."""
        with connect(self.url) as conn:
            # The credit of ``consumers`` separate consumers: a batch in hand and one arriving, per applier.
            queue, channel, consumer = self._subscribe(conn, prefetch=self.batch_size * 2 * self.consumers)
            read_ahead(conn)
            generation = appliers.next_generation()
            acks = _Acks(channel)
            try:
                self._consume_batches(conn, consumer, queue, appliers, generation, acks)
            finally:
                self._accepting = True

    def _consume_batches(self, conn, consumer, queue, appliers: "_Appliers", generation: int, acks: "_Acks") -> None:
        with consumer:
            self.connected = True
            self.connections += 1
            log.info("consumer_started", queue=queue.name, appliers=self.consumers)
            first_at = None
            next_heartbeat = 0.0
            stopping = False
            while True:
                stopping = stopping or self._stop.is_set()
                now = self._drain(conn)
                if self._buffer and first_at is None:
                    first_at = now
                while self._buffer and appliers.idle() and (
                        stopping or len(self._buffer) >= self.batch_size or now - first_at >= self.max_wait):
                    batch, self._buffer = self._buffer[:self.batch_size], self._buffer[self.batch_size:]
                    appliers.submit(generation, batch)
                    first_at = now if self._buffer else None
                self._settle_finished(conn, acks, appliers.finished(generation))
                if now >= next_heartbeat:  # a heartbeat is due every 15 s (heartbeat=30)
                    conn.heartbeat_check()
                    next_heartbeat = now + 1.0
                if stopping:
                    # What was buffered is handed out and finished; what arrives now stays unacknowledged
                    # (the broker gives it to the next consumer), as with one consumer.
                    self._accepting = False
                    if not self._buffer and not appliers.busy:
                        break

    def _settle_finished(self, conn, acks: "_Acks", finished: list) -> None:
        for batch, error in finished:
            if isinstance(error, _Stopping):
                log.info("consumer_stopped_while_the_database_is_down", detail=str(error))
                continue
            if error is not None:
                raise error
            with coalesced_writes(conn.connection.transport):
                acks.settle(d.raw.delivery_tag for d in batch)
            self._account(batch)

    # -------------------------------------------------------------------------------------------------- batches
    def _flush(self, conn) -> None:
        batch, self._buffer = self._buffer, []
        self._process(batch, self.publisher, conn)
        ack_batch([d.raw for d in batch], self._amqp)
        self._account(batch)

    def _process(self, batch: list[_Delivery], publisher: Publisher, conn) -> None:
        """Everything but the ack: decode, apply, after-commit work, retry/dead-letter copies published."""
        clear_contextvars()  # nothing of the previous batch may leak into this one's log lines
        for d in batch:
            self._decode(d)
        self._apply_until_the_database_answers(batch, conn)
        committed = AfterCommit()
        for d in batch:
            if d.outcome == "applied":
                committed.absorb(d.after)
        committed.run()
        self._settle_failures(batch, publisher)

    def _account(self, batch: list[_Delivery]) -> None:
        # Counters, not a line per message: one increment per (event, outcome) of the batch.
        for (event, outcome), n in Counter((self._event_label(d), d.outcome) for d in batch).items():
            metrics.MESSAGES_CONSUMED.labels(self.service, event, outcome).inc(n)
        for d in batch:
            if d.outcome == "duplicate":  # rare (a redelivery, a publisher's retry): worth a line
                self._log(d, "info", "message_duplicate")
        if logs.debug_enabled(log):  # a sample: one line per batch, its first message
            self._log(batch[0], "debug", "consumer_batch", size=len(batch), outcomes=dict(Counter(
                d.outcome for d in batch)))

    def _decode(self, d: _Delivery) -> None:
        try:
            d.ident = identify(d.raw)
            d.message, d.fields = decode(d.raw, d.ident, self.bus.events, self.limits)
            d.locked = self.bus.locked(d.message, d.fields)
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with a delivery stays with it
            d.failure = exc if isinstance(exc, PermanentError) else PoisonMessage(
                f"undecodable delivery: {describe(exc)}", "poison")

    def _event_label(self, d: _Delivery) -> str:
        """Event names become metric labels only when the service routes them: no unbounded label values."""
        event = d.ident.routing_key if d.ident else ""
        return event if event in self.bus.events else "unknown"

    def _apply_until_the_database_answers(self, batch: list[_Delivery], conn) -> None:
        """Hold the batch while the database is down; when asked to stop meanwhile, give it back unsettled (the
        broker delivers it again to whichever consumer comes next) instead of waiting for the database. A conflict
        with another transaction (deadlock, serialization failure) is applied again at once."""
        delay = 0.5
        conflicts = 0
        while True:
            try:
                self._apply(batch)
                return
            except Exception as exc:
                if not _must_raise(exc):
                    raise
                self._reset(batch)
                if is_conflict(exc) and not self._stop.is_set():
                    conflicts += 1
                    log.warning("consumer_transaction_conflict_retried", error=describe(exc), attempt=conflicts,
                                messages=len(batch))
                    if conflicts > 3:  # the same two batches again and again: let the other one finish first
                        self._stop.wait(min(0.05 * conflicts, 1.0))
                    continue
                if self._stop.is_set():
                    raise _Stopping(f"stopping with {len(batch)} unsettled message(s): {describe(exc)}") from exc
                log.warning("consumer_database_unavailable", error=describe(exc), retry_in_s=delay,
                            messages=len(batch))
                self._sleep_with_heartbeats(conn, delay)
                delay = min(delay * 2, 30.0)

    @staticmethod
    def _reset(batch: list[_Delivery]) -> None:
        """Forget what an attempt that did not commit decided (decoding failures stay)."""
        for d in batch:
            if d.message is not None:
                d.failure, d.outcome = None, "pending"
                d.after.clear()

    def _apply(self, batch: list[_Delivery]) -> None:
        todo = [d for d in batch if d.todo]
        if not todo:
            return
        try:
            self._apply_in_one_transaction(todo)
        except Exception as exc:
            if _must_raise(exc):
                raise
            # The commit itself failed (a constraint checked at commit time, say): one transaction per message,
            # so the others are not held hostage by one.
            log.info("consumer_commit_failed", error=describe(exc), size=len(todo))
            self._reset(todo)
            for d in todo:
                try:
                    self._apply_in_one_transaction([d])
                except Exception as one:
                    if _must_raise(one):
                        raise
                    d.failure, d.outcome = one, "pending"
                    d.after.clear()

    def _apply_in_one_transaction(self, todo: list[_Delivery]) -> None:
        """Fast path: one dedup query, one savepoint for all. If any handler fails, roll that back and apply each
        message in a savepoint of its own."""
        with self.session_factory() as session, session.begin():
            self._lock_rows(session, todo)
            seen = self._already_processed(session, todo)
            fresh = []
            for d in todo:
                if d.message.message_id in seen:
                    d.outcome = "duplicate"
                else:
                    seen.add(d.message.message_id)  # the same message twice within one batch
                    fresh.append(d)
            if len(fresh) == 1:  # nothing to gain from the batch savepoint
                self._apply_one(session, fresh[0])
                return
            try:
                with session.begin_nested():
                    for d in fresh:
                        self._handle(session, d)
                    session.flush()
                    self._mark_processed(session, fresh)
            except Exception as exc:  # noqa: BLE001 - fall back to a savepoint per message
                if _must_raise(exc):
                    raise
                log.debug("consumer_batch_fallback", error=describe(exc), size=len(fresh))
                for d in fresh:
                    d.after.clear()
                    self._apply_one(session, d)
                return
            for d in fresh:
                d.outcome = "applied"

    def _apply_one(self, session: Session, d: _Delivery) -> None:
        try:
            with session.begin_nested():
                self._handle(session, d)
                session.flush()
                try:
                    with session.begin_nested():
                        self._mark_processed(session, [d])
                except IntegrityError:
                    raise DuplicateMessage(d.message.message_id) from None
            d.outcome = "applied"
        except DuplicateMessage:
            d.outcome = "duplicate"  # a concurrent consumer committed it first
            d.after.clear()
        except Exception as exc:  # noqa: BLE001 - the failure stays with its message
            if _must_raise(exc):
                raise
            d.failure = exc
            d.after.clear()

    def _handle(self, session: Session, d: _Delivery) -> None:
        logs.bind_correlation_id(d.message.correlation_id)
        self.bus.handle_event(d.message, d.fields, session, d.after, d.locked)

    @staticmethod
    def _lock_rows(session: Session, deliveries: list[_Delivery]) -> None:
        """Lock the names of every row the batch will write, sorted (see the module docstring). PostgreSQL only:
        SQLite serializes writers anyway."""
        keys = sorted({lock_key(name) for d in deliveries if d.locked is not None for name in d.locked.names})
        if keys and _on_postgres(session):
            session.execute(_LOCK_PG, {"keys": keys})

    @staticmethod
    def _already_processed(session: Session, deliveries: list[_Delivery]) -> set[str]:
        ids = [d.message.message_id for d in deliveries]
        if _on_postgres(session):  # one array parameter: no statement with a bind parameter per id to render
            rows = session.execute(_SEEN_PG, {"ids": ids})
        else:
            rows = session.execute(select(_processed.c.message_id).where(_processed.c.message_id.in_(ids)))
        return {row[0] for row in rows}

    @staticmethod
    def _mark_processed(session: Session, deliveries: list[_Delivery]) -> None:
        if not deliveries:
            return
        # In key order: two batches holding the same ids (a redelivery) insert them in the same order
        deliveries = sorted(deliveries, key=lambda d: d.message.message_id)
        now = utcnow()
        if _on_postgres(session):  # one INSERT … SELECT unnest(arrays): no per-row parameter work in Python
            session.execute(_MARK_PG, {"ids": [d.message.message_id for d in deliveries],
                                       "events": [d.message.event for d in deliveries], "now": now})
            return
        session.execute(_processed.insert(), [
            {"message_id": d.message.message_id, "event": d.message.event, "processed_at": now}
            for d in deliveries])

    def _sleep_with_heartbeats(self, conn, seconds: float) -> None:
        if conn is None:  # an applier thread: the consuming thread keeps the connection's heartbeats
            self._stop.wait(seconds)
            return
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._stop.is_set():
            if self._amqp:
                conn.heartbeat_check()
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))

    # --------------------------------------------------------------------------------------------------- failures
    def _settle_failures(self, batch: list[_Delivery], publisher: Publisher) -> None:
        """Publish every failed delivery's new copy (retry tier or dead letter) with confirms, in one go."""
        out: list[tuple[_Delivery, OutgoingMessage, str]] = []
        now = utcnow()
        sq = self.topology.for_service(self.service)
        for d in batch:
            if d.failure is None:
                continue
            kind = classify(d.failure)
            reason = describe(d.failure)
            if kind is Kind.PERMANENT:
                out.append((d, self._dead_letter(d, reason, dict(d.ident.headers), now), reason_label(d.failure)))
                continue
            decision = retry.decide(self.retry_policy, kind, reason, d.ident.headers, len(sq.retry_queues), now)
            if decision.tier is None:
                label = "horizon" if kind is Kind.TRANSIENT else "gave_up"
                out.append((d, self._dead_letter(d, decision.reason, decision.headers, now), label))
            else:
                out.append((d, self._retry(d, decision), ""))
                self._log(d, "warning", "message_retry_scheduled", error=reason, attempts=decision.headers[
                    retry.ATTEMPTS], retry_in_s=sq.retry_delays[decision.tier])
        if not out:
            return
        results = publisher.publish_batch([m for _d, m, _label in out])  # PublishError -> not acked
        failed = {mid: err for mid, err in results.items() if err is not None}
        if failed:
            raise PublishError(f"retry/dead-letter publish failed: {failed}")
        for d, m, label in out:
            event = self._event_label(d)
            if m.exchange == sq.dead_letter_exchange:
                d.outcome = "dead_lettered"
                metrics.MESSAGES_DEAD_LETTERED.labels(self.service, event, label).inc()
                self._log(d, "error", "message_dead_lettered", reason=m.headers[retry.DEAD_REASON])
            else:
                d.outcome = "retried"
                metrics.MESSAGES_RETRIED.labels(self.service, event).inc()

    def _retry(self, d: _Delivery, decision: retry.Decision) -> OutgoingMessage:
        """The delivery's copy for its retry tier: same body, properties and routing key, the new headers."""
        sq = self.topology.for_service(self.service)
        headers = park_headers(decision.headers, sq.retry_delays[decision.tier], amqp_broker=self._amqp)
        return OutgoingMessage(d.ident.message_id, d.ident.routing_key, d.ident.body, headers,
                               exchange=sq.retry_queues[decision.tier], type=d.message.event)

    def _dead_letter(self, d: _Delivery, reason: str, headers: dict, now) -> OutgoingMessage:
        ident = d.ident
        headers = {k: v for k, v in headers.items() if k not in retry.BROKER_HEADERS and k != retry.DUE_AT}
        attempts = headers.get(retry.ATTEMPTS)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            attempts = 1
        headers.update({
            retry.DEAD_REASON: reason[:4000], retry.DEAD_QUEUE: self.topology.for_service(self.service).queue,
            retry.DEAD_AT: now.isoformat(), retry.DEAD_SERVICE: self.service,
            retry.DEAD_ROUTING_KEY: ident.routing_key, retry.ATTEMPTS: attempts,
        })
        headers.setdefault(retry.FIRST_REASON, reason[:1000])
        headers.setdefault(retry.FIRST_AT, now.isoformat())
        props = ident.properties
        return OutgoingMessage(ident.message_id, self.service, ident.body, headers,
                               exchange=self.topology.for_service(self.service).dead_letter_exchange,
                               type=props.get("type") if isinstance(props.get("type"), str) else None,
                               content_type=ident.content_type)

    def _log(self, d: _Delivery, level: str, what: str, **fields) -> None:
        """A log line about one delivery: its event, message id and correlation id."""
        getattr(log, level)(what, event_type=d.ident.routing_key if d.ident else "", message_id=d.ident.message_id
                            if d.ident else "", correlation_id=d.message.correlation_id if d.message else None,
                            **fields)


class _Appliers:
    """``worker.consumers`` threads that apply whole batches for :meth:`Worker._consume_with`.

    A batch is tagged with the generation of the connection it came on; one that was not started before its
    connection was lost is not applied (the broker gives its deliveries again). Each thread has its own publisher for
    the retry and dead-letter copies (a connection belongs to its thread) and opens it again after a cut (the old one
    died with the consumer's)."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.generation = 0
        self.busy = 0  # batches handed out and not finished (any generation): read and written by the consumer only
        self._work: queues.Queue = queues.Queue()
        self._done: queues.Queue = queues.Queue()
        self._threads = [threading.Thread(target=self._run, name=f"{worker.service}-applier-{i}", daemon=True)
                         for i in range(worker.consumers)]
        for t in self._threads:
            t.start()

    def next_generation(self) -> int:
        self.generation += 1
        return self.generation

    def idle(self) -> bool:
        return self.busy < len(self._threads)

    def submit(self, generation: int, batch: list[_Delivery]) -> None:
        self.busy += 1
        self._work.put((generation, batch))

    def finished(self, generation: int) -> list[tuple[list[_Delivery], BaseException | None]]:
        """The batches of ``generation`` finished since the last call, with the error each raised (if any)."""
        out = []
        while True:
            try:
                gen, batch, error = self._done.get_nowait()
            except queues.Empty:
                return out
            self.busy -= 1
            if gen == generation and batch is not None:
                out.append((batch, error))

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self._threads:
            self._work.put(None)
        deadline = time.monotonic() + timeout  # one bound for all (a batch may still wait for S3 or the database)
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        publisher, opened_in = None, None
        while (item := self._work.get()) is not None:
            generation, batch = item
            if generation != self.generation:  # its connection is gone: the broker gives these deliveries again
                self._done.put((generation, None, None))
                continue
            if publisher is None or opened_in != generation:
                if publisher is not None:
                    publisher.close()
                publisher, opened_in = Publisher(self.worker.topology, url=self.worker.url), generation
            try:
                self.worker._process(batch, publisher, None)
                self._done.put((generation, batch, None))
            except Exception as exc:  # noqa: BLE001 - the consuming thread decides (reconnect, or stop)
                self._done.put((generation, batch, exc))
        if publisher is not None:
            publisher.close()


class _Acks:
    """Acknowledges one channel's deliveries as their batches finish, in any order.

    Delivery tags count 1, 2, 3 … per channel. The finished run without a gap from the start is acknowledged with
    one ``basic.ack multiple`` (its last tag must not have been acknowledged alone before: RabbitMQ refuses an
    unknown tag and closes the channel); a finished delivery beyond a gap (an earlier batch still being applied) is
    acknowledged alone at once, so a slow batch does not hold back the others' prefetch credit."""

    def __init__(self, channel):
        self.channel = channel
        self.upto = 0                   # every tag <= upto is acknowledged
        self.finished: set[int] = set()  # finished tags above upto
        self.alone: set[int] = set()     # of those, the ones already acknowledged alone

    def settle(self, tags) -> None:
        tags = list(tags)
        self.finished.update(tags)
        last_multiple = None
        while self.upto + 1 in self.finished:
            self.upto += 1
            self.finished.discard(self.upto)
            if self.upto in self.alone:
                self.alone.discard(self.upto)
            else:
                last_multiple = self.upto
        if last_multiple is not None:
            self.channel.basic_ack(last_multiple, multiple=True)
        for tag in sorted(tags):
            if tag > self.upto:
                self.channel.basic_ack(tag, multiple=False)
                self.alone.add(tag)
