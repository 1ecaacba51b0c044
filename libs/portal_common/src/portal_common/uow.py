"""Who owns the transaction of a unit of work — the two SQLAlchemy variants every service needs — and the work
that waits for the commit.

A service keeps its own ``AbstractUnitOfWork`` (its repositories, how its aggregates' events are staged) on
:class:`AbstractUnitOfWork` here — or :class:`AggregateUnitOfWork`, whose ``commit()`` stages the events its
aggregates raised — and mixes in one of these for the session handling (cosmicpython's unit of work, split by who
commits):

    class SqlAlchemyUnitOfWork(OwnedSession, AbstractUnitOfWork):      # HTTP API, sweeps, CLIs
        def bind(self, session):
            self.policies = repository.SqlAlchemyRepository(session)

    class SessionUnitOfWork(JoinedSession, AbstractUnitOfWork):        # inside the worker's batch transaction
        def bind(self, session):
            self.policies = repository.SqlAlchemyRepository(session)

Both give ``_commit()``, ``rollback()``, ``_add_event(name, payload, secret_fields=())`` (the outbox row goes into
the same transaction) and ``after_commit(fn)`` / ``after_commit_each(fn, item)``: work that must wait until the
transaction has *committed* (deleting an inbox object, bumping a counter) and must never run for work that was
rolled back. Nothing domain-specific lives here.
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from . import logs
from .db import read
from .errors import TransientError
from .outbox import add_event

log = logs.get_logger(__name__)


class AfterCommit:
    """Work collected during one transaction (or one message of the consumer's batch), run after its commit.

    ``add(fn)`` runs ``fn()``; ``add_each(fn, item)`` runs ``fn([item, …])`` once with every item collected for the
    same ``fn`` (e.g. one S3 ``DeleteObjects`` call for a whole batch). A failing call is logged, never raised:
    the transaction has committed, there is nothing left to undo.
    """

    def __init__(self):
        self.calls: list[Callable[[], Any]] = []
        self.each: dict[Callable[[list], Any], list] = {}

    def add(self, fn: Callable[[], Any]) -> None:
        self.calls.append(fn)

    __call__ = add

    def add_each(self, fn: Callable[[list], Any], item) -> None:
        self.each.setdefault(fn, []).append(item)

    def absorb(self, other: "AfterCommit") -> None:
        self.calls.extend(other.calls)
        for fn, items in other.each.items():
            self.each.setdefault(fn, []).extend(items)

    def clear(self) -> None:
        self.calls.clear()
        self.each.clear()

    def run(self) -> None:
        calls, each = list(self.calls), dict(self.each)
        self.clear()
        for fn, items in each.items():
            _safely(lambda fn=fn, items=items: fn(items))
        for fn in calls:
            _safely(fn)


def _safely(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - committed already: log, never undo
        log.warning("after_commit_failed", error=f"{type(exc).__name__}: {exc}")


class AbstractUnitOfWork(abc.ABC):
    """The port: ``with uow: … uow.commit()``; leaving the block without a commit rolls back."""

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.rollback()

    @abc.abstractmethod
    def _add_event(self, name: str, payload: dict, secret_fields=(), version: int = 1) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...


class AggregateUnitOfWork(AbstractUnitOfWork):
    """``commit()`` writes the events the aggregates seen in this unit of work raised (``aggregate.events``, in
    order) to the outbox, then commits (cosmicpython's ``collect_new_events``)."""

    def commit(self) -> None:
        self._stage_events()
        self._commit()

    def _stage_events(self) -> None:
        for aggregate in self._seen():
            while aggregate.events:
                event = aggregate.events.pop(0)
                self._add_event(event.name, event.payload())

    @abc.abstractmethod
    def _seen(self) -> Iterable:
        """The aggregates loaded or added in this unit of work (the repository's ``seen``)."""

    @abc.abstractmethod
    def _commit(self) -> None: ...


class _SessionUnitOfWork:
    session: Session
    _after: AfterCommit

    def bind(self, session: Session) -> None:
        """Create the repositories on ``session``."""
        raise NotImplementedError

    def _add_event(self, name: str, payload: dict, secret_fields=(), version: int = 1) -> None:
        add_event(self.session, name, payload, secret_fields=secret_fields, version=version)

    def read(self, statement, params: dict | None = None) -> list:
        """The rows of one read-only Core statement, in this unit of work's transaction (the joined one in the
        worker). :class:`OwnedSession` answers a read made before anything else from a pooled connection of its
        own instead (see there)."""
        return self.session.execute(statement, params).all()

    def after_commit(self, fn: Callable[[], Any]) -> None:
        self._after.add(fn)

    def after_commit_each(self, fn: Callable[[list], Any], item) -> None:
        self._after.add_each(fn, item)

    def flush(self) -> None:
        """Send the pending writes now (e.g. to claim a primary key before slow work); no commit.

        A key another transaction took meanwhile (a competing consumer applying a re-sent copy of the same thing,
        found by the chaos run) is a :class:`~portal_common.errors.TransientError`: the message is retried later,
        when the handler's own "already there?" check sees the committed row — not dead-lettered as a bug."""
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise TransientError(f"concurrent write: {str(exc.orig).splitlines()[0][:200]}",
                                 reason="concurrent_write") from exc


class OwnedSession(_SessionUnitOfWork):
    """Opens a session for each ``with`` block, commits it on ``commit()`` and closes it at the end."""

    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory
        self._after = AfterCommit()

    def __enter__(self):
        self.session = self.session_factory()
        self._after.clear()
        self.bind(self.session)
        return self

    def __exit__(self, *exc):
        # close() discards whatever was not committed but, unlike rollback(), leaves loaded objects readable.
        self._after.clear()
        self.session.close()

    def read(self, statement, params: dict | None = None) -> list:
        """A read before the transaction has begun goes to :func:`portal_common.db.read` (an autocommit
        connection, one round trip, asked again once if PostgreSQL had closed the connection), not through the ORM
        Session: a page view's lookups (the session check, a customer's lists) are one Core statement each, and the
        Session's bookkeeping plus the pool's ping, BEGIN and ROLLBACK cost more than the statement. It is a
        transaction of its own: use it for reads that need no lock and no consistency with writes of this unit of
        work made before it."""
        if self.session.in_transaction():
            return super().read(statement, params)
        return read(self.session.get_bind(), statement, params)

    def _commit(self) -> None:
        self.session.commit()
        self._after.run()

    def rollback(self) -> None:
        self._after.clear()
        self.session.rollback()


class JoinedSession(_SessionUnitOfWork):
    """Joins a transaction the caller owns: the worker applies a batch in one transaction, commits it, then acks.
    ``commit()`` only flushes (so constraint violations surface inside the handler); rollback is the caller's, and
    so is running ``after_commit`` (the consumer runs it after the batch's commit, only for messages it kept)."""

    def __init__(self, session: Session, after_commit: AfterCommit | None = None):
        self.session = session
        self._after = after_commit if after_commit is not None else AfterCommit()
        self.bind(session)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _commit(self) -> None:
        self.session.flush()

    def rollback(self) -> None:
        pass
