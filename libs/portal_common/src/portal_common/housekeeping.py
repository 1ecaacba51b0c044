"""Housekeeping: the worker deletes rows that have served their purpose, so no table grows without bound.

Every worker runs one ``Housekeeper`` thread (``runner.run`` starts it). Each ``Rule`` deletes the rows of one table
that are older than its retention, in small batches (short transactions, no long lock on a busy table). The shared
rules cover the plumbing every service has; a service adds its own (identity: throttle rows, sessions, tokens).

- ``outbox``: rows published more than ``PORTAL_OUTBOX_RETENTION_DAYS`` (default 7) ago. Unpublished rows are
  never touched: the relay and its sweeper still owe them to the broker.
- ``processed_messages``: message ids older than ``PORTAL_PROCESSED_RETENTION_DAYS`` (default 14). A redelivery
  can come back at most one retry horizon (24 h) after the first delivery; 14 days leave room for an operator to
  replay dead letters of the last week and still have duplicates recognised.

Intervals and retentions are configuration (``PORTAL_HOUSEKEEPING_SECONDS``, default 3600); each pass logs what it
removed and counts it in ``portal_housekeeping_deleted_total{table}``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import MetaData, Table, and_, delete, select
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from . import config, logs
from .db import plumbing_tables, utcnow
from .metrics import Counter

log = logs.get_logger(__name__)

DELETED = Counter("portal_housekeeping_deleted_total", "Rows removed by housekeeping", ["table"])


@dataclass(frozen=True)
class Rule:
    """Delete rows of ``table`` where ``expired(now)`` holds. ``expired`` builds the WHERE clause for a pass that
    runs at ``now`` (a function, so a rule can combine several columns and cut-offs)."""

    name: str
    table: Table
    expired: Callable[[datetime], ColumnElement]


def older_than(table: Table, column: str, retention: timedelta, *also: ColumnElement) -> Callable:
    """The common case: ``column < now - retention`` (and every condition in ``also``)."""
    return lambda now: and_(table.c[column] < now - retention, *also)


def days(name: str, default: float) -> timedelta:
    value = config.env_int(name, int(default))
    if value < 1:
        raise config.ConfigError(f"{name} must be at least 1 (days)")
    return timedelta(days=value)


def plumbing_rules() -> list[Rule]:
    """The outbox and processed-message rules: every service has these tables (``db.plumbing_tables``)."""
    outbox, processed = plumbing_tables(MetaData())
    keep_ids = days("PORTAL_PROCESSED_RETENTION_DAYS", 14)
    horizon_hours = float(config.env("PORTAL_RETRY_HORIZON_HOURS", "24") or 24)
    if keep_ids <= timedelta(hours=horizon_hours):
        # A message may be redelivered up to the retry horizon after its first try: its id must still be known.
        raise config.ConfigError(f"PORTAL_PROCESSED_RETENTION_DAYS ({keep_ids.days}) must be longer than the retry "
                                 f"horizon PORTAL_RETRY_HORIZON_HOURS ({horizon_hours:g} h)")
    return [
        Rule("outbox", outbox, older_than(outbox, "published_at", days("PORTAL_OUTBOX_RETENTION_DAYS", 7),
                                          outbox.c.published_at.isnot(None))),
        Rule("processed_messages", processed, older_than(processed, "processed_at", keep_ids)),
    ]


class Housekeeper:
    def __init__(self, service: str, session_factory: sessionmaker, rules: list[Rule], *,
                 interval_s: float | None = None, clock: Callable[[], datetime] = utcnow, batch_size: int = 1000):
        self.service = service
        self.session_factory = session_factory
        self.rules = list(rules)
        self.interval_s = interval_s if interval_s is not None else config.env_int("PORTAL_HOUSEKEEPING_SECONDS", 3600)
        self.clock = clock
        self.batch_size = batch_size
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run_forever(self) -> None:
        log.info("housekeeping_started", interval_s=self.interval_s, tables=[r.name for r in self.rules])
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the database went away, say: try again next time
                log.exception("housekeeping_failed")
            self._stop.wait(self.interval_s)

    def run_once(self) -> dict[str, int]:
        """One pass over every rule at the clock's current time. Returns the deleted counts per rule."""
        now = self.clock()
        removed = {rule.name: self._apply(rule, now) for rule in self.rules}
        if any(removed.values()):
            log.info("housekeeping_done", **{f"deleted_{k}": v for k, v in removed.items()})
        return removed

    def _apply(self, rule: Rule, now: datetime) -> int:
        total = 0
        key = list(rule.table.primary_key.columns)[0]
        while not self._stop.is_set():
            with self.session_factory() as session, session.begin():
                ids = select(key).where(rule.expired(now)).limit(self.batch_size)
                # A subquery, not IN over fetched ids: one round trip, and the batch stays one short transaction.
                count = session.execute(delete(rule.table).where(key.in_(ids.scalar_subquery()))).rowcount
            total += count
            DELETED.labels(rule.name).inc(count)
            if count < self.batch_size:
                break
        return total
