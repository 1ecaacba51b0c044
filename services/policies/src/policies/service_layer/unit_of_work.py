"""Unit of work: one transaction, its repository, and the events its aggregates raised (written to the outbox)."""
from __future__ import annotations

import abc

from sqlalchemy.orm import Session, sessionmaker

from portal_common.outbox import add_event

from ..adapters import repository


class AbstractUnitOfWork(abc.ABC):
    policies: repository.AbstractRepository

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.rollback()

    def commit(self) -> None:
        self._stage_events()
        self._commit()

    def _stage_events(self) -> None:
        for policy in self.policies.seen:
            while policy.events:
                name, payload = policy.events.pop(0)
                self._add_event(name, payload)

    @abc.abstractmethod
    def _add_event(self, name: str, payload: dict) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """Owns its transaction (used by the HTTP API)."""

    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    def __enter__(self):
        self.session: Session = self.session_factory()
        self.policies = repository.SqlAlchemyRepository(self.session)
        return super().__enter__()

    def __exit__(self, *args):
        # close() discards whatever was not committed but, unlike rollback(), leaves loaded objects readable.
        self.session.close()

    def _add_event(self, name, payload):
        add_event(self.session, name, payload)

    def _commit(self):
        self.session.commit()

    def rollback(self):
        self.session.rollback()


class SessionUnitOfWork(AbstractUnitOfWork):
    """Joins a transaction the caller owns (the worker commits a whole batch, then acks)."""

    def __init__(self, session: Session):
        self.session = session
        self.policies = repository.SqlAlchemyRepository(session)

    def __exit__(self, *args):
        pass

    def _add_event(self, name, payload):
        add_event(self.session, name, payload)

    def _commit(self):
        self.session.flush()

    def rollback(self):
        pass


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, policies=(), holders=()):
        self.policies = repository.FakeRepository(policies, holders)
        self.committed = False
        self.published: list[tuple[str, dict]] = []

    def _add_event(self, name, payload):
        self.published.append((name, payload))

    def _commit(self):
        self.committed = True

    def rollback(self):
        pass
