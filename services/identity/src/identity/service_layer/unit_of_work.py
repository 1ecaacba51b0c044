"""Unit of work: one transaction, its repository and the events staged in it (written to the outbox)."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from portal_common.events import IntegrationEvent
from portal_common.uow import AbstractUnitOfWork as UnitOfWorkPort
from portal_common.uow import JoinedSession, OwnedSession

from ..adapters import orm, repository


class Conflict(Exception):
    """A uniqueness rule was broken by a concurrent request (the database said so at commit). ``rule`` says which:
    ``orm.USERNAME``, ``orm.OPEN_ACCOUNT_RULE``, ``orm.ACTIVE_DECLARATION``, or None for another."""

    def __init__(self, rule: str | None):
        super().__init__(rule or "integrity")
        self.rule = rule


class AbstractUnitOfWork(UnitOfWorkPort):
    repo: repository.AbstractRepository

    def publish(self, event: IntegrationEvent) -> None:
        """Stage an event (``domain/events.py``): it is written to the outbox in this transaction, as
        ``(event.name, event.payload())`` at ``event.version``, and published after the commit."""
        self._add_event(event.name, event.payload(), event.secret_fields, version=event.version)


class SqlAlchemyUnitOfWork(OwnedSession, AbstractUnitOfWork):
    """Owns its transaction (used by the HTTP API)."""

    def bind(self, session):
        self.repo = repository.SqlAlchemyRepository(session, read=self.read)

    def commit(self):
        try:
            self._commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise Conflict(orm.unique_rule_of(exc)) from exc


class SessionUnitOfWork(JoinedSession, AbstractUnitOfWork):
    """Joins a transaction the caller owns (the worker commits a whole batch, then acks)."""

    def bind(self, session):
        self.repo = repository.SqlAlchemyRepository(session, read=self.read)

    def commit(self):
        self._commit()


class FakeUnitOfWork(AbstractUnitOfWork):
    """In memory. Events are visible in ``published`` only once committed, like the outbox."""

    def __init__(self, repo: repository.FakeRepository | None = None, published: list | None = None):
        self.repo = repo or repository.FakeRepository()
        #: pass one list to several units of work to see every committed event, like one outbox table
        self.published: list[tuple[str, dict, tuple[str, ...]]] = published if published is not None else []
        self._staged: list[tuple[str, dict, tuple[str, ...]]] = []
        self.commits = 0

    def _add_event(self, name, payload, secret_fields, version=1):
        self._staged.append((name, payload, tuple(secret_fields)))

    def commit(self):
        self.published.extend(self._staged)
        self._staged.clear()
        self.commits += 1

    def rollback(self):
        self._staged.clear()

    def events(self, name: str | None = None) -> list[dict]:
        return [payload for n, payload, _ in self.published if name is None or n == name]
