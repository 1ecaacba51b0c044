"""portal_common.db.read: one read-only statement per round trip, and still answered after PostgreSQL dropped the
connection (no ping before each read: the read is asked again once on a fresh connection)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from portal_common import testing
from portal_common.db import make_engine, read, read_engine

pytestmark = pytest.mark.database


@pytest.fixture()
def engine():
    with testing.temp_postgres_database("portal_read") as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _terminate_every_connection(engine) -> int:
    admin = create_engine(testing.require_postgres(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"),
                             {"n": engine.url.database}).scalar()
    admin.dispose()
    return ended


def test_a_read_is_one_statement_outside_any_transaction(engine):
    # In autocommit no transaction stays open around the statement: the backend is idle, not "idle in transaction".
    assert read(engine, text("SELECT 41 + 1 AS n"))[0].n == 42
    with engine.connect() as conn:
        states = conn.execute(text("SELECT state FROM pg_stat_activity WHERE datname = :n AND pid <> "
                                   "pg_backend_pid()"), {"n": engine.url.database}).scalars().all()
    assert states == ["idle"]
    assert read_engine(engine) is read_engine(engine)


def test_after_postgresql_dropped_the_connections_the_next_read_is_answered(engine):
    for _ in range(3):
        read(engine, text("SELECT 1"))
    assert _terminate_every_connection(engine) >= 1
    assert [tuple(row) for row in read(engine, text("SELECT 2"))] == [(2,)]
    assert [tuple(row) for row in read(engine, text("SELECT 3"))] == [(3,)]


def test_an_error_that_is_not_a_lost_connection_is_raised_not_retried(engine):
    with pytest.raises(ProgrammingError):
        read(engine, text("SELECT * FROM no_such_table"))


def test_disposing_the_engine_closes_the_read_connections_too(engine):
    read(engine, text("SELECT 1"))
    assert read_engine(engine).pool.checkedin() == 1
    engine.dispose()
    assert read_engine(engine).pool.checkedin() == 0
