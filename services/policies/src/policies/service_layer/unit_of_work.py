"""Unit of work: one transaction, its repository, and the events its aggregates raised (written to the outbox)."""
from __future__ import annotations

from portal_common.uow import AggregateUnitOfWork, JoinedSession, OwnedSession

from ..adapters import repository


class AbstractUnitOfWork(AggregateUnitOfWork):
    policies: repository.AbstractRepository

    def _seen(self):
        return self.policies.seen


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
