"""Work that must wait until the database transaction has committed: inbox deletions and metric increments.

Ingestion copies the inbox object into the documents bucket, records the document, and only *after the commit*
deletes the inbox copy: if the transaction fails, the inbox copy is still there for the retried message; if the
delete fails, the document is already safe (a retried event finds it recorded and deletes the left-over).

Counters ("documents ingested", "duplicates", "swept") are bumped the same way. The shared consumer may run a handler
more than once for one delivery (it applies a whole batch in one savepoint and, when any message fails, rolls it back
and applies every message again in its own savepoint; a transient error is retried), so a counter bumped inside the
handler would count work that was rolled back.

The worker commits a whole batch of messages at once (each in its own savepoint), so the work is collected in
``session.info``, tagged with the (nested) transaction that scheduled it: a savepoint that rolls back drops its own,
a rolled-back transaction drops all, and only the commit of the *outermost* transaction runs them — deletions as one
``DeleteObjects`` call per bucket, then the callbacks. (SQLAlchemy also fires ``after_commit`` when a savepoint is
released; that is not a commit of anything yet and is ignored.)
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from portal_common import logs

log = logs.get_logger(__name__)
_DELETES = "documents.delete_after_commit"
_CALLBACKS = "documents.call_after_commit"


def _current(session: Session):
    return session.get_nested_transaction() or session.get_transaction()


def schedule_delete(session: Session, bucket: str, key: str) -> None:
    session.info.setdefault(_DELETES, []).append((_current(session), (bucket, key)))


def schedule_call(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn()`` once the outermost transaction has committed; never if what scheduled it rolls back."""
    session.info.setdefault(_CALLBACKS, []).append((_current(session), fn))


def _inside(tx, rolled_back) -> bool:
    while tx is not None:
        if tx is rolled_back:
            return True
        tx = tx.parent
    return False


def install(session_factory: sessionmaker, store) -> None:
    """Attach the listeners to every session ``session_factory`` makes. ``store`` is an AbstractObjectStore."""

    @event.listens_for(session_factory, "after_soft_rollback")
    def _drop(session, previous_transaction):
        for key in (_DELETES, _CALLBACKS):
            pending = session.info.get(key)
            if pending:
                session.info[key] = [p for p in pending if not _inside(p[0], previous_transaction)]

    @event.listens_for(session_factory, "after_commit")
    def _run(session):
        if session.in_nested_transaction():
            return  # a savepoint released: the enclosing transaction may still roll back
        deletes = session.info.pop(_DELETES, None)
        calls = session.info.pop(_CALLBACKS, None)
        if deletes:
            run_deletes(store, [obj for _tx, obj in deletes])
        if calls:
            run_calls([fn for _tx, fn in calls])

    @event.listens_for(session_factory, "after_transaction_end")
    def _forget(session, transaction):
        if transaction.parent is None:  # the outermost transaction ended without a commit (e.g. close())
            session.info.pop(_DELETES, None)
            session.info.pop(_CALLBACKS, None)


def run_deletes(store, objects: list[tuple[str, str]]) -> None:
    by_bucket: dict[str, list[str]] = defaultdict(list)
    for bucket, key in objects:
        by_bucket[bucket].append(key)
    for bucket, keys in by_bucket.items():
        try:
            store.delete_many(bucket, keys)
        except Exception as exc:  # noqa: BLE001 - the documents are safe; a re-sent event retries the delete
            log.warning("inbox_delete_failed", bucket=bucket, objects=len(keys), error=f"{type(exc).__name__}: {exc}")


def run_calls(calls: list[Callable[[], None]]) -> None:
    for fn in calls:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the transaction has committed; nothing to undo
            log.warning("after_commit_call_failed", error=f"{type(exc).__name__}: {exc}")
