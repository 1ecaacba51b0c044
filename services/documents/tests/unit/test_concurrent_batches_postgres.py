"""Two document batches applied at once by the real shared consumer on PostgreSQL (PORTAL_DOCUMENTS_CONSUMERS > 1):
the same two documents in opposite orders — a re-sent upload, or a redelivery after a broker cut — must not
deadlock (the chaos runs logged PostgreSQL's "deadlock detected" on ``documents_pkey`` as "database unavailable"
and applied the whole batch again). The routes name the rows they write, the consumer locks those names sorted,
so the second batch waits for the first and finds its documents stored."""
from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import text

from documents.adapters import orm
from documents.adapters.object_store import FakeObjectStore
from documents.bootstrap import bootstrap
from documents.domain import commands
from documents.service_layer import handlers
from documents.settings import Settings
from portal_common import consumer, testing
from portal_common.bus import load_topology
from portal_common.consumer import Worker, _Delivery
from portal_common.messagebus import Message
from portal_common.testing import FakePublisher, wait_until

from .conftest import NOW, upload

pytestmark = pytest.mark.database


class Log:
    """Stands in for the consumer's logger: the lines an operator would read, as (level, event)."""

    def __init__(self):
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level):
        return lambda event, **fields: self.lines.append((level, event))

    def warnings(self) -> list[str]:
        return [event for level, event in self.lines if level == "warning"]


class CrossingStore(FakeObjectStore):
    """The fake S3; each batch's first COPY (made after its document row is written: claim before copy) waits until
    the other batch has made its first one too — or waits for a lock (then the batches cannot cross)."""

    def __init__(self, engine=None):
        super().__init__()
        self.engine = engine
        self.copying: set[str] = set()
        self.guard = threading.Lock()

    def copy(self, src_bucket, src_key, dst_bucket, dst_key):
        me = threading.current_thread().name
        with self.guard:
            first = me not in self.copying
            self.copying.add(me)
        if first and self.engine is not None:
            wait_until(lambda: len(self.copying) >= 2 or self._someone_waits_for_a_lock(), timeout=60,
                       message="the other batch to copy its first document or to wait for a lock")
        return super().copy(src_bucket, src_key, dst_bucket, dst_key)

    def _someone_waits_for_a_lock(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                     "WHERE NOT l.granted AND d.datname = current_database()")).scalar_one() > 0


@pytest.fixture
def wiring():
    with testing.temp_postgres_database("documents_batches") as url:
        store = CrossingStore()
        wiring = bootstrap(url, store=store, settings=Settings(), clock=lambda: NOW)
        orm.metadata.create_all(wiring.engine)
        store.engine = wiring.engine
        handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
        yield wiring
        wiring.engine.dispose()


def delivery(bus, cmd: commands.IngestDocument) -> _Delivery:
    route = bus.events["document.uploaded"]
    message_id = str(uuid.uuid4())
    message = Message(message_id, "document.uploaded", 1, message_id, NOW, {})
    fields = route.load({**cmd.__dict__, "uploaded_at": cmd.uploaded_at.isoformat()})
    return _Delivery(raw=None, message=message, fields=fields, locked=bus.locked(message, fields))


def test_two_batches_with_the_same_documents_in_opposite_orders_do_not_deadlock(wiring, monkeypatch):
    oplog = Log()
    monkeypatch.setattr(consumer, "log", oplog)
    store = wiring.store
    first, second = upload(store), upload(store)
    worker = Worker("documents", wiring.bus, wiring.session_factory, load_topology(namespace=""),
                    publisher=FakePublisher())
    batches = [[delivery(wiring.bus, first), delivery(wiring.bus, second)],
               [delivery(wiring.bus, second), delivery(wiring.bus, first)]]  # re-sent: other message ids
    errors = []

    def apply(batch):
        try:
            worker._apply_until_the_database_answers(batch, None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(batch,), name=f"applier-{i}") for i, batch in enumerate(batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    worker.stop()
    assert not errors and not any(t.is_alive() for t in threads)

    assert oplog.warnings() == []  # neither "database unavailable" nor a conflict retried: no deadlock at all
    assert [d.outcome for batch in batches for d in batch] == ["applied"] * 4  # the re-sent copies: no-ops
    with wiring.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM processed_messages")).scalar_one() == 4
    for cmd in (first, second):  # each document copied into the documents bucket once: no copy rolled back
        assert sum(1 for c in store.calls if c[0] == "copy" and c[2] == cmd.key) == 1
