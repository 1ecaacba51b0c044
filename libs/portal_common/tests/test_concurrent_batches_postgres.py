"""Two batches applied at once on real PostgreSQL that write the same rows in opposite orders (a re-sent document
in two batches, say): with the rows named by the route (``Route.locks``) the second batch waits for the first and
neither deadlocks; with rows no route names, PostgreSQL's deadlock is a conflict retried at once — never logged as
"database unavailable"."""
from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Column, MetaData, String, Table, select, text

from portal_common import consumer
from portal_common.consumer import Worker, _Delivery
from portal_common.db import make_engine, make_session_factory, plumbing_tables
from portal_common.errors import Kind, classify, is_conflict, is_database_unavailable
from portal_common.messagebus import Message
from portal_common.testing import FakePublisher, OCCURRED_AT, plumbing_bus, temp_postgres_database, wait_until

pytestmark = pytest.mark.database
EVENT = "thing.seen"

metadata = MetaData()
things = Table("things", metadata, Column("thing", String(50), primary_key=True), Column("message_id", String(200)))
_outbox, processed = plumbing_tables(metadata)


class Log:
    """Stands in for the consumer's structlog logger: what an operator would read, as (level, event, fields)."""

    def __init__(self):
        self.lines: list[tuple[str, str, dict]] = []

    def __getattr__(self, level):
        return lambda event, **fields: self.lines.append((level, event, fields))

    def events(self, level: str) -> list[str]:
        return [event for lvl, event, _fields in self.lines if lvl == level]


class Crossing:
    """Makes the two batches cross: each batch's handler, after writing its first row, waits until the other batch
    has written its first row too — or is already waiting for a lock (then there is nothing to cross)."""

    def __init__(self, engine, batches: list[list[str]]):
        self.engine = engine
        self.first = {ids[0] for ids in batches}
        self.written: set[str] = set()
        self.lock = threading.Lock()

    def after(self, message_id: str) -> None:
        if message_id not in self.first:
            return
        with self.lock:
            self.written.add(message_id)
        wait_until(lambda: self.written >= self.first or self._someone_waits_for_a_lock(), timeout=60,
                   message="the other batch to write its first row or to wait for a lock")

    def _someone_waits_for_a_lock(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                     "WHERE NOT l.granted AND d.datname = current_database()")).scalar_one() > 0


@pytest.fixture
def engine():
    with temp_postgres_database("batches") as url:
        engine = make_engine(url)
        metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def oplog(monkeypatch):
    log = Log()
    monkeypatch.setattr(consumer, "log", log)
    return log


def apply_two_crossing_batches(engine, *, declare_locks: bool):
    """Batch A sees things X then Y, batch B (re-sent copies: other message ids) Y then X; both at once."""
    crossing = None

    def handler(data, *, uow, message):
        session = uow.session
        if session.execute(select(things.c.thing).where(things.c.thing == data["thing"])).first() is None:
            session.execute(things.insert().values(thing=data["thing"], message_id=message.message_id))
            session.flush()
        crossing.after(message.message_id)

    bus = plumbing_bus(handler, [EVENT], locks=(lambda fields: [f"thing:{fields['thing']}"]) if declare_locks
                       else None)
    worker = Worker("things", bus, make_session_factory(engine), topology=None, publisher=FakePublisher())
    batches = [[delivery(bus, "X"), delivery(bus, "Y")], [delivery(bus, "Y"), delivery(bus, "X")]]
    crossing = Crossing(engine, [[d.message.message_id for d in batch] for batch in batches])
    errors = []

    def apply(batch):
        try:
            worker._apply_until_the_database_answers(batch, None)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(batch,)) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    worker.stop()  # ends a worker still waiting for "the database" (the old classification) after the join timeout
    assert not errors and not any(t.is_alive() for t in threads)
    return batches


def delivery(bus, thing: str) -> _Delivery:
    message_id = str(uuid.uuid4())
    message = Message(message_id, EVENT, 1, message_id, OCCURRED_AT, {})
    fields = {"thing": thing}
    return _Delivery(raw=None, message=message, fields=fields, locked=bus.locked(message, fields))


def stored(engine) -> tuple[list[str], int]:
    with engine.connect() as conn:
        return (sorted(conn.scalars(select(things.c.thing))),
                len(conn.execute(select(processed.c.message_id)).all()))


def test_batches_writing_the_same_rows_in_opposite_orders_wait_for_each_other_instead_of_deadlocking(engine, oplog):
    batches = apply_two_crossing_batches(engine, declare_locks=True)
    assert oplog.events("warning") == []  # no deadlock, no "database unavailable", no conflict retried
    assert [d.outcome for batch in batches for d in batch] == ["applied"] * 4
    assert stored(engine) == (["X", "Y"], 4)


def test_a_deadlock_no_route_prevents_is_a_conflict_retried_at_once_not_the_database_down(engine, oplog):
    batches = apply_two_crossing_batches(engine, declare_locks=False)
    assert "consumer_database_unavailable" not in oplog.events("warning")
    assert oplog.events("warning") == ["consumer_transaction_conflict_retried"]
    [(_level, _event, fields)] = [line for line in oplog.lines if line[1] == "consumer_transaction_conflict_retried"]
    assert fields["error"].startswith("OperationalError: deadlock detected") and fields["messages"] == 2
    assert [d.outcome for batch in batches for d in batch] == ["applied"] * 4
    assert stored(engine) == (["X", "Y"], 4)


def test_postgres_deadlock_and_serialization_failure_are_conflicts_not_an_unavailable_database(engine):
    """The real errors, as psycopg2 and SQLAlchemy raise them (both are ``OperationalError``s)."""
    from sqlalchemy.exc import OperationalError

    for sqlstate in ("40P01", "40001"):
        with engine.connect() as conn, pytest.raises(OperationalError) as raised:
            conn.execute(text(f"DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}'; END $$"))
        assert is_conflict(raised.value) and not is_database_unavailable(raised.value)
        assert classify(raised.value) is Kind.TRANSIENT
