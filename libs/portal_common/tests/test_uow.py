"""The owned and joined session variants of a unit of work (SQLite in a temporary folder)."""
from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, func, select

from portal_common.db import make_engine, make_session_factory, plumbing_tables
from portal_common.uow import JoinedSession, OwnedSession

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True))
outbox, _ = plumbing_tables(metadata)


class Owned(OwnedSession):
    def bind(self, session):
        self.bound_to = session


class Joined(JoinedSession):
    def bind(self, session):
        self.bound_to = session


def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'uow.db'}")
    metadata.create_all(engine)
    return make_session_factory(engine)


def count(factory, table) -> int:
    with factory() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def test_an_owned_session_commits_the_change_and_its_event_together(tmp_path):
    factory = sessions(tmp_path)
    with Owned(factory) as uow:
        assert uow.bound_to is uow.session
        uow.session.execute(things.insert().values(id=1))
        uow._add_event("thing.made", {"id": 1})
        uow._commit()
    assert count(factory, things) == 1 and count(factory, outbox) == 1


def test_an_owned_session_left_without_commit_keeps_nothing(tmp_path):
    factory = sessions(tmp_path)
    with Owned(factory) as uow:
        uow.session.execute(things.insert().values(id=1))
        uow._add_event("thing.made", {"id": 1})
    assert count(factory, things) == 0 and count(factory, outbox) == 0


def test_a_joined_session_only_flushes_the_caller_commits_or_rolls_back(tmp_path):
    factory = sessions(tmp_path)
    with factory() as session:
        with session.begin():
            with Joined(session) as uow:
                uow.session.execute(things.insert().values(id=1))
                uow._add_event("thing.made", {"id": 1})
                uow._commit()
                uow.rollback()  # not the unit of work's to undo
            assert count(factory, things) == 0  # not committed yet: the caller decides
        assert count(factory, things) == 1 and count(factory, outbox) == 1
    with factory() as session:
        session.begin()
        with Joined(session) as uow:
            uow.session.execute(things.insert().values(id=2))
            uow._commit()
        session.rollback()
    assert count(factory, things) == 1


def test_a_key_taken_meanwhile_is_a_transient_error_retried_later_not_a_bug(tmp_path):
    import pytest

    from portal_common.errors import TransientError

    factory = sessions(tmp_path)
    with factory() as session, session.begin():
        session.execute(things.insert().values(id=7))  # the competing consumer's copy, committed first
    from sqlalchemy.orm import registry

    class Thing:
        def __init__(self, id):
            self.id = id
    registry().map_imperatively(Thing, things)
    with pytest.raises(TransientError, match="concurrent write: UNIQUE constraint failed: things.id"):
        with Owned(factory) as uow:
            uow.session.add(Thing(7))  # as a repository adds a new entity
            uow.flush()


def test_a_first_read_needs_no_session_transaction_and_a_read_after_a_write_sees_the_write(tmp_path):
    factory = sessions(tmp_path)
    with Owned(factory) as uow:
        uow.session.execute(things.insert().values(id=7))
        uow._commit()
    every = select(things.c.id).order_by(things.c.id)
    with Owned(factory) as uow:
        assert [row.id for row in uow.read(every)] == [7]
        assert not uow.session.in_transaction()  # answered from a pooled connection, not through the Session
        uow.session.execute(things.insert().values(id=8))
        assert [row.id for row in uow.read(every)] == [7, 8]  # in the unit of work's transaction: its own write
        uow.rollback()
    assert count(factory, things) == 1
    with factory() as session:
        with Joined(session) as uow:
            session.execute(things.insert().values(id=9))
            assert [row.id for row in uow.read(every)] == [7, 9]


def test_an_aggregate_unit_of_work_writes_the_raised_events_in_order_before_it_commits():
    from types import SimpleNamespace

    from portal_common.uow import AggregateUnitOfWork

    class Recording(AggregateUnitOfWork):
        def __init__(self, aggregates):
            self.aggregates, self.log = aggregates, []

        def _seen(self):
            return self.aggregates

        def _add_event(self, name, payload, secret_fields=(), version=1):
            self.log.append((name, payload))

        def _commit(self):
            self.log.append("commit")

        def rollback(self):
            self.log.append("rollback")

    def event(name, n):
        return SimpleNamespace(name=name, payload=lambda: {"n": n})

    first = SimpleNamespace(events=[event("thing.made", 1), event("thing.changed", 2)])
    second = SimpleNamespace(events=[event("thing.made", 3)])
    with Recording([first, second]) as uow:
        uow.commit()
    assert uow.log == [("thing.made", {"n": 1}), ("thing.changed", {"n": 2}), ("thing.made", {"n": 3}), "commit",
                       "rollback"]
    assert first.events == [] and second.events == []
