"""Unit of work: one transaction, its repository, the events its documents raised (written to the outbox), and
the work that waits for the commit (``after_commit`` / ``after_commit_each``, see portal_common.uow)."""
from __future__ import annotations

import abc
from typing import Callable

from portal_common.uow import AfterCommit, AggregateUnitOfWork, JoinedSession, OwnedSession

from ..adapters import repository


class AbstractUnitOfWork(AggregateUnitOfWork):
    documents: repository.AbstractRepository

    def _seen(self):
        return self.documents.seen

    @abc.abstractmethod
    def after_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once the transaction has really committed (never when it, or the savepoint around this
        work, rolls back): for metrics that must count what happened, not what was attempted."""

    @abc.abstractmethod
    def after_commit_each(self, fn: Callable[[list], None], item) -> None:
        """Call ``fn([item, …])`` once after the commit with every item collected for ``fn`` (one S3
        ``DeleteObjects`` for a whole batch of ingested documents)."""

    def flush(self) -> None:
        """Send the pending writes now (e.g. to claim a primary key before slow work); no commit."""


class SqlAlchemyUnitOfWork(OwnedSession, AbstractUnitOfWork):
    """Owns its transaction (the HTTP API, the retention sweep)."""

    def bind(self, session):
        self.documents = repository.SqlAlchemyRepository(session, read=self.read)


class SessionUnitOfWork(JoinedSession, AbstractUnitOfWork):
    """Joins a transaction the caller owns (the worker commits a whole batch, then acks)."""

    def bind(self, session):
        self.documents = repository.SqlAlchemyRepository(session, read=self.read)


class FakeUnitOfWork(AbstractUnitOfWork):
    """In memory. The work scheduled for after the commit runs on commit, as with the real ones. Leaving the
    ``with`` block without a commit forgets the documents added in it (as the database would) and that work."""

    def __init__(self, documents=(), owners=(), customers=(), store=None):
        self.documents = repository.FakeRepository(documents, owners, customers)
        self.store = store
        self.committed = False
        self.commits = 0
        self.published: list[tuple[str, dict]] = []
        self._after = AfterCommit()
        self._snapshot: dict | None = None

    def __enter__(self):
        self._snapshot = dict(self.documents.documents)
        return super().__enter__()

    def after_commit(self, fn):
        self._after.add(fn)

    def after_commit_each(self, fn, item):
        self._after.add_each(fn, item)

    def _add_event(self, name, payload):
        self.published.append((name, payload))

    def _commit(self):
        self.committed = True
        self.commits += 1
        self._snapshot = None
        self._after.run()

    def rollback(self):
        if self._snapshot is not None:
            kept = self._snapshot
            self.documents.documents = kept
            self.documents.seen = {d for d in self.documents.seen if kept.get(d.document_id) is d}
            self._snapshot = None
        self._after.clear()
