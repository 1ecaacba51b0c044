"""Unit of work: one transaction, its repository, and the events its aggregates raised (written to the outbox)."""
from __future__ import annotations

import abc

from portal_common.uow import JoinedSession, OwnedSession

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
                event = policy.events.pop(0)
                self._add_event(event.name, event.payload())

    @abc.abstractmethod
    def _add_event(self, name: str, payload: dict) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class SqlAlchemyUnitOfWork(OwnedSession, AbstractUnitOfWork):
    """Owns its transaction (used by the HTTP API)."""

    def bind(self, session):
        self.policies = repository.SqlAlchemyRepository(session, read=self.read)


class SessionUnitOfWork(JoinedSession, AbstractUnitOfWork):
    """Joins a transaction the caller owns (the worker commits a whole batch, then acks)."""

    def bind(self, session):
        self.policies = repository.SqlAlchemyRepository(session, read=self.read)


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
