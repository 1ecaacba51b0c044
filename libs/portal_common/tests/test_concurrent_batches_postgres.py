"""Two batches applied at once on real PostgreSQL that write the same rows in opposite orders (a re-sent document
in two batches, say): with the rows named by the route (``Route.locks``) the second batch waits for the first and
neither deadlocks; with rows no route names, PostgreSQL's deadlock is a conflict retried at once — never logged as
"database unavailable"."""
from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, select, text

from portal_common import consumer
from portal_common.consumer import Worker
from portal_common.db import make_session_factory, plumbing_tables
from portal_common.errors import Kind, classify, is_conflict, is_database_unavailable
from portal_common.testing import (Crossing, FakePublisher, OperatorLog, apply_batches_at_once, decoded_delivery,
                                   plumbing_bus, temp_postgres_tables)

pytestmark = pytest.mark.database
EVENT = "thing.seen"

metadata = MetaData()
things = Table("things", metadata, Column("thing", String(50), primary_key=True), Column("message_id", String(200)))
_outbox, processed = plumbing_tables(metadata)


@pytest.fixture
def engine():
    with temp_postgres_tables("batches", metadata) as engine:
        yield engine


@pytest.fixture
def oplog(monkeypatch):
    log = OperatorLog()
    monkeypatch.setattr(consumer, "log", log)
    return log


def apply_two_crossing_batches(engine, *, declare_locks: bool):
    """Batch A sees things X then Y, batch B (re-sent copies: other message ids) Y then X; both at once."""
    crossing = Crossing(engine)

    def handler(data, *, uow, message):
        session = uow.session
        if session.execute(select(things.c.thing).where(things.c.thing == data["thing"])).first() is None:
            session.execute(things.insert().values(thing=data["thing"], message_id=message.message_id))
            session.flush()
        crossing.arrive()

    bus = plumbing_bus(handler, [EVENT], locks=(lambda fields: [f"thing:{fields['thing']}"]) if declare_locks
                       else None)
    worker = Worker("things", bus, make_session_factory(engine), topology=None, publisher=FakePublisher())
    batches = [[delivery(bus, "X"), delivery(bus, "Y")], [delivery(bus, "Y"), delivery(bus, "X")]]
    apply_batches_at_once(worker, batches)
    return batches


def delivery(bus, thing: str):
    return decoded_delivery(bus, EVENT, {"thing": thing})


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
