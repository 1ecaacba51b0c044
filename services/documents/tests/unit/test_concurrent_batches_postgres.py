"""Two document batches applied at once by the real shared consumer on PostgreSQL (PORTAL_DOCUMENTS_CONSUMERS > 1):
the same two documents in opposite orders — a re-sent upload, or a redelivery after a broker cut — must not
deadlock (the chaos runs logged PostgreSQL's "deadlock detected" on ``documents_pkey`` as "database unavailable"
and applied the whole batch again). The routes name the rows they write, the consumer locks those names sorted,
so the second batch waits for the first and finds its documents stored."""
from __future__ import annotations

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
from portal_common.consumer import Worker
from portal_common.testing import Crossing, FakePublisher, OperatorLog, apply_batches_at_once, decoded_delivery

from .conftest import NOW, upload

pytestmark = pytest.mark.database


class CrossingStore(FakeObjectStore):
    """The fake S3; each batch's first COPY (made after its document row is written: claim before copy) waits until
    the other batch has made its first one too — or waits for a lock (then the batches cannot cross)."""

    crossing: Crossing | None = None

    def copy(self, src_bucket, src_key, dst_bucket, dst_key):
        if self.crossing is not None:
            self.crossing.arrive()
        return super().copy(src_bucket, src_key, dst_bucket, dst_key)


@pytest.fixture
def wiring():
    with testing.temp_postgres_database("documents_batches") as url:
        store = CrossingStore()
        wiring = bootstrap(url, store=store, settings=Settings(), clock=lambda: NOW)
        orm.metadata.create_all(wiring.engine)
        handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), wiring.uow())
        store.crossing = Crossing(wiring.engine)
        yield wiring
        wiring.engine.dispose()


def delivery(bus, cmd: commands.IngestDocument):
    fields = bus.events["document.uploaded"].load({**cmd.__dict__, "uploaded_at": cmd.uploaded_at.isoformat()})
    return decoded_delivery(bus, "document.uploaded", fields, occurred_at=NOW)


def test_two_batches_with_the_same_documents_in_opposite_orders_do_not_deadlock(wiring, monkeypatch):
    oplog = OperatorLog()
    monkeypatch.setattr(consumer, "log", oplog)
    store = wiring.store
    first, second = upload(store), upload(store)
    worker = Worker("documents", wiring.bus, wiring.session_factory, load_topology(namespace=""),
                    publisher=FakePublisher())
    batches = [[delivery(wiring.bus, first), delivery(wiring.bus, second)],
               [delivery(wiring.bus, second), delivery(wiring.bus, first)]]  # re-sent: other message ids
    apply_batches_at_once(worker, batches)

    assert oplog.events("warning") == []  # neither "database unavailable" nor a conflict retried: no deadlock at all
    assert [d.outcome for batch in batches for d in batch] == ["applied"] * 4  # the re-sent copies: no-ops
    with wiring.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM documents")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM processed_messages")).scalar_one() == 4
    for cmd in (first, second):  # each document copied into the documents bucket once: no copy rolled back
        assert sum(1 for c in store.calls if c[0] == "copy" and c[2] == cmd.key) == 1
