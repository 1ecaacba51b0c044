"""Who owns the transaction of a unit of work — the two SQLAlchemy variants every service needs.

A service keeps its own ``AbstractUnitOfWork`` (its repositories, how its aggregates' events are staged) and mixes
in one of these for the session handling (cosmicpython's unit of work, split by who commits):

    class SqlAlchemyUnitOfWork(OwnedSession, AbstractUnitOfWork):      # HTTP API, sweeps, CLIs
        def bind(self, session):
            self.policies = repository.SqlAlchemyRepository(session)

    class SessionUnitOfWork(JoinedSession, AbstractUnitOfWork):        # inside the worker's batch transaction
        def bind(self, session):
            self.policies = repository.SqlAlchemyRepository(session)

Both give ``_commit()``, ``rollback()`` and ``_add_event(name, payload, secret_fields=())`` (the outbox row goes into
the same transaction). Nothing domain-specific lives here.
"""
from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from .outbox import add_event


class _SessionUnitOfWork:
    session: Session

    def bind(self, session: Session) -> None:
        """Create the repositories on ``session``."""
        raise NotImplementedError

    def _add_event(self, name: str, payload: dict, secret_fields=(), version: int = 1) -> None:
        add_event(self.session, name, payload, secret_fields=secret_fields, version=version)


class OwnedSession(_SessionUnitOfWork):
    """Opens a session for each ``with`` block, commits it on ``commit()`` and closes it at the end."""

    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    def __enter__(self):
        self.session = self.session_factory()
        self.bind(self.session)
        return self

    def __exit__(self, *exc):
        # close() discards whatever was not committed but, unlike rollback(), leaves loaded objects readable.
        self.session.close()

    def _commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class JoinedSession(_SessionUnitOfWork):
    """Joins a transaction the caller owns: the worker applies a batch in one transaction, commits it, then acks.
    ``commit()`` only flushes (so constraint violations surface inside the handler); rollback is the caller's."""

    def __init__(self, session: Session):
        self.session = session
        self.bind(session)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _commit(self) -> None:
        self.session.flush()

    def rollback(self) -> None:
        pass
