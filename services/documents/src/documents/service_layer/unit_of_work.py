"""Unit of work: one transaction, its repository, the events its documents raised (written to the outbox), and the
object deletions and metric increments that wait for the commit (see adapters/post_commit.py)."""
from __future__ import annotations

import abc
from typing import Callable

from sqlalchemy.orm import Session

from portal_common.uow import JoinedSession, OwnedSession

from ..adapters import post_commit, repository


class AbstractUnitOfWork(abc.ABC):
    documents: repository.AbstractRepository

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.rollback()

    def commit(self) -> None:
        self._stage_events()
        self._commit()

    def _stage_events(self) -> None:
        for doc in self.documents.seen:
            while doc.events:
                name, payload = doc.events.pop(0)
                self._add_event(name, payload)

    @abc.abstractmethod
    def delete_after_commit(self, bucket: str, key: str) -> None: ...

    @abc.abstractmethod
    def after_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once the transaction has really committed (never when it, or the savepoint around this
        work, rolls back): for metrics that must count what happened, not what was attempted."""

    def flush(self) -> None:
        """Send the pending writes now (e.g. to claim a primary key before slow work); no commit."""

    @abc.abstractmethod
    def _add_event(self, name: str, payload: dict) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class _OnTheSession:
    """What both database-backed units of work do on their session: repositories and post-commit work."""

    session: Session

    def bind(self, session):
        self.documents = repository.SqlAlchemyRepository(session)

    def delete_after_commit(self, bucket, key):
        post_commit.schedule_delete(self.session, bucket, key)

    def after_commit(self, fn):
        post_commit.schedule_call(self.session, fn)

    def flush(self):
        self.session.flush()


class SqlAlchemyUnitOfWork(_OnTheSession, OwnedSession, AbstractUnitOfWork):
    """Owns its transaction (the HTTP API, the retention sweep)."""


class SessionUnitOfWork(_OnTheSession, JoinedSession, AbstractUnitOfWork):
    """Joins a transaction the caller owns (the worker commits a whole batch, then acks)."""


class FakeUnitOfWork(AbstractUnitOfWork):
    """In memory. With a ``store`` the scheduled deletions run on commit, as the real listener does; the scheduled
    calls run on commit too. Leaving the ``with`` block without a commit forgets the documents added in it (as the
    database would) and the scheduled work."""

    def __init__(self, documents=(), owners=(), customers=(), store=None):
        self.documents = repository.FakeRepository(documents, owners, customers)
        self.store = store
        self.committed = False
        self.commits = 0
        self.published: list[tuple[str, dict]] = []
        self.pending_deletes: list[tuple[str, str]] = []
        self.pending_calls: list[Callable[[], None]] = []
        self._snapshot: dict | None = None

    def __enter__(self):
        self._snapshot = dict(self.documents.documents)
        return super().__enter__()

    def delete_after_commit(self, bucket, key):
        self.pending_deletes.append((bucket, key))

    def after_commit(self, fn):
        self.pending_calls.append(fn)

    def _add_event(self, name, payload):
        self.published.append((name, payload))

    def _commit(self):
        self.committed = True
        self.commits += 1
        self._snapshot = None
        pending, self.pending_deletes = self.pending_deletes, []
        calls, self.pending_calls = self.pending_calls, []
        if self.store is not None and pending:
            post_commit.run_deletes(self.store, pending)
        post_commit.run_calls(calls)

    def rollback(self):
        if self._snapshot is not None:
            kept = self._snapshot
            self.documents.documents = kept
            self.documents.seen = {d for d in self.documents.seen if kept.get(d.document_id) is d}
            self._snapshot = None
        self.pending_deletes = []
        self.pending_calls = []
