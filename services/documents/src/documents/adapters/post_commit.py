"""Object deletions that must wait until the database transaction has committed.

Ingestion copies the inbox object into the documents bucket, records the document, and only *after the commit*
deletes the inbox copy: if the transaction fails, the inbox copy is still there for the retried message; if the
delete fails, the document is already safe (a retried event finds it recorded and deletes the left-over).

The worker commits a whole batch of messages at once (each in its own savepoint), so deletions are collected in
``session.info``, tagged with the savepoint that scheduled them: a savepoint that rolls back drops its own, a
rolled-back transaction drops all, and a commit runs them as one ``DeleteObjects`` call per bucket.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from portal_common import logs

log = logs.get_logger(__name__)
_KEY = "documents.delete_after_commit"


def schedule_delete(session: Session, bucket: str, key: str) -> None:
    tx = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEY, []).append((tx, bucket, key))


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
        pending = session.info.get(_KEY)
        if pending:
            session.info[_KEY] = [p for p in pending if not _inside(p[0], previous_transaction)]

    @event.listens_for(session_factory, "after_commit")
    def _run(session):
        pending = session.info.pop(_KEY, None)
        if pending:
            run_deletes(store, [(bucket, key) for _tx, bucket, key in pending])


def run_deletes(store, objects: list[tuple[str, str]]) -> None:
    by_bucket: dict[str, list[str]] = defaultdict(list)
    for bucket, key in objects:
        by_bucket[bucket].append(key)
    for bucket, keys in by_bucket.items():
        try:
            store.delete_many(bucket, keys)
        except Exception as exc:  # noqa: BLE001 - the documents are safe; a re-sent event retries the delete
            log.warning("inbox_delete_failed", bucket=bucket, objects=len(keys), error=f"{type(exc).__name__}: {exc}")
