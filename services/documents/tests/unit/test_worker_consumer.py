"""The documents handlers under the real shared consumer (portal_common's Worker) on the embedded file bus, with
SQLite and the fake object store — the consumer's batch fallback and retries are what these tests are about.

The shared consumer applies a batch in one savepoint and, when any handler raises, rolls it back and applies every
message again in a savepoint of its own; a transient error goes through the retry tiers (here 0.05 s and 0.1 s) and
is dead-lettered after the retry horizon (here 1 s). Metrics and inbox deletions must follow what was *committed*,
not how often a handler ran.
"""
from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from documents.adapters import orm
from documents.adapters.object_store import FakeObjectStore
from documents.bootstrap import bootstrap
from documents.domain import commands
from documents.service_layer import handlers
from documents.settings import Settings
from portal_common.bus import OutgoingMessage, Publisher, load_topology
from portal_common.consumer import Worker
from portal_common.messagebus import Route
from portal_common.retry import RetryPolicy
from portal_common.testing import fresh_file_bus_memory, take_dead_letters, wait_until

from .conftest import NOW, PDF, upload


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ingested() -> float:
    return sample("portal_documents_ingested_total", doc_type="premium_notice")


def dead_lettered(reason: str) -> float:
    return sample("portal_messages_dead_lettered_total", service="documents", event="document.uploaded",
                  reason=reason)


def event_of(cmd: commands.IngestDocument) -> dict:
    return {**cmd.__dict__, "uploaded_at": cmd.uploaded_at.isoformat()}


def policy_upserted(policy_number: str, customer_id: str) -> dict:
    return {"policy_number": policy_number, "policyholder": {"customer_id": customer_id},
            "updated_at": datetime.now(timezone.utc).isoformat()}


class Stack:
    """The documents worker's consumer in a thread; ``max_wait`` long enough that what is sent together is one
    batch; short retry tiers and a retry horizon of 1 s."""

    def __init__(self, tmp_path):
        self.store = FakeObjectStore()
        self.wiring = bootstrap(f"sqlite:///{tmp_path / 'documents.db'}", store=self.store, settings=Settings(),
                                clock=lambda: NOW)
        orm.metadata.create_all(self.wiring.engine)
        self.wiring.ensure_storage()
        handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-1", NOW), self.wiring.uow())
        self.topology = load_topology(namespace="", retry_delays=(0.05, 0.1))
        self.worker = Worker("documents", self.wiring.bus, self.wiring.session_factory, self.topology, url=None,
                             max_wait=0.3, retry_policy=RetryPolicy(horizon=timedelta(seconds=1)))
        self.publisher = Publisher(self.topology, url=None)
        self.thread = threading.Thread(target=self.worker.run_forever, daemon=True)

    def send(self, *events: tuple[str, dict]) -> list[str]:
        messages = [OutgoingMessage.for_event(str(uuid.uuid4()), name, payload, occurred_at=NOW.isoformat(),
                                              correlation_id=None) for name, payload in events]
        assert set(self.publisher.publish_batch(messages).values()) == {None}
        return [m.message_id for m in messages]

    def stored(self, document_id: str) -> bool:
        with self.wiring.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM documents WHERE document_id = :d"),
                                {"d": document_id}).scalar_one() == 1

    def processed(self, message_id: str) -> bool:
        with self.wiring.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM processed_messages WHERE message_id = :m"),
                                {"m": message_id}).scalar_one() == 1

    def copies_of(self, key: str) -> int:
        return sum(1 for c in self.store.calls if c[0] == "copy" and c[2] == key)

    def deletes_of(self, key: str) -> int:
        return sum(1 for c in self.store.calls if c[0] == "delete_many" and key in c[2])

    def dead_letters(self, expected: int, timeout: float = 10.0) -> list:
        """Read ``expected`` messages from the dead-letter queue (acked: taken off the queue), raw: no decoding."""
        return take_dead_letters(self.topology, "documents", expected, timeout)

    def stop(self):
        self.worker.stop()
        self.thread.join(timeout=10)
        self.publisher.close()
        self.wiring.engine.dispose()


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    for name in ("PORTAL_AMQP_URL", "PORTAL_ENV", "PORTAL_BUS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    fresh_file_bus_memory(monkeypatch)
    s = Stack(tmp_path)
    s.thread.start()
    wait_until(lambda: s.worker.connected, timeout=10, interval=0.02, message="the worker to consume")
    yield s
    s.stop()


def test_a_handler_run_twice_for_one_delivery_counts_and_deletes_once(stack):
    """The handler does all its work (copy, row, scheduled delete and counter) and then fails — as when a later
    message of the batch raises, or the first delivery meets a passing error: its savepoint rolls back and the
    message is applied again. Two runs of the handler, one committed ingestion: counted once, its inbox copy
    deleted once."""
    route = stack.worker.bus.events["document.uploaded"]
    runs: dict[str, int] = {}

    def work_then_fail_the_first_time(cmd, uow, store, locations, now, message):
        route.handler(cmd, uow, store, locations, now)
        runs[message.message_id] = runs.get(message.message_id, 0) + 1
        if runs[message.message_id] == 1:
            raise RuntimeError("another message of the batch failed")

    stack.worker.bus.events["document.uploaded"] = replace(route, handler=work_then_fail_the_first_time)
    before = ingested()
    good = upload(stack.store)
    [message_id] = stack.send(("document.uploaded", event_of(good)))
    wait_until(lambda: stack.processed(message_id), timeout=10, message="the document's commit")
    assert runs[message_id] == 2 and stack.copies_of(good.key) == 2  # the handler did run twice …
    assert ingested() == before + 1  # … and is counted once
    assert stack.deletes_of(good.key) == 1 and stack.store.data("portal-inbox", good.key) is None


def test_each_rejection_is_counted_once_by_the_shared_dead_letter_counter(stack):
    """A good document and a bad one sent together (one batch, either order): the bad one is dead-lettered once and
    counted once under the shared counter's reason label; the good one is stored and counted once."""
    before, rejected = ingested(), dead_lettered("sha256_mismatch")
    good = upload(stack.store)
    bad = upload(stack.store, sha256=hashlib.sha256(b"not these bytes").hexdigest())
    [good_id, _bad_id] = stack.send(("document.uploaded", event_of(good)), ("document.uploaded", event_of(bad)))
    [dead] = stack.dead_letters(1)
    assert dead.headers["x-dead-reason"].startswith("sha256 mismatch:")
    wait_until(lambda: stack.processed(good_id), timeout=10, message="the good document's commit")
    assert ingested() == before + 1 and dead_lettered("sha256_mismatch") == rejected + 1
    assert stack.deletes_of(good.key) == 1 and stack.store.data("portal-inbox", good.key) is None
    assert stack.store.data("portal-inbox", bad.key) == PDF  # kept for the operator
    assert sample("portal_documents_rejected_total", reason="sha256_mismatch") == 0  # no second counter any more


def test_a_document_handled_before_its_new_policy_is_retried_and_stored(stack):
    """policy.upserted for a brand-new policy and its first document in one batch, the document first: it fails in
    the batch, the policy commits, the retry stores the document."""
    before = ingested()
    retried = sample("portal_messages_retried_total", service="documents", event="document.uploaded")
    cmd = upload(stack.store, policy_number="KGFB-NEW", customer_id="C-NEW")
    [doc_message] = stack.send(("document.uploaded", event_of(cmd)))  # first: the file bus is FIFO, as RabbitMQ is
    stack.send(("policy.upserted", policy_upserted("KGFB-NEW", "C-NEW")))
    wait_until(lambda: stack.processed(doc_message), timeout=10, message="the document after the retry")
    assert stack.stored(cmd.document_id) and ingested() == before + 1
    assert sample("portal_messages_retried_total", service="documents", event="document.uploaded") >= retried + 1
    assert stack.store.data("portal-documents", f"customers/C-NEW/{cmd.document_id}.pdf") == PDF


def test_a_policy_that_never_comes_is_dead_lettered_after_the_retry_horizon(stack):
    before = dead_lettered("horizon")
    cmd = upload(stack.store, policy_number="KGFB-404")
    stack.send(("document.uploaded", event_of(cmd)))
    [dead] = stack.dead_letters(1, timeout=20)
    reason = dead.headers["x-dead-reason"]
    assert reason.startswith("gave up after ") and "(retry horizon 0.0 h)" in reason
    assert "unknown policy: KGFB-404 has not been received" in reason
    assert dead.headers["x-first-failure-reason"].startswith("unknown policy: KGFB-404")
    assert dead.headers["x-attempts"] >= 2
    assert dead_lettered("horizon") == before + 1
    assert not stack.stored(cmd.document_id) and stack.store.data("portal-inbox", cmd.key) == PDF


def test_a_conflicting_duplicate_is_dead_lettered_and_its_inbox_object_kept(stack):
    first = upload(stack.store)
    [m1] = stack.send(("document.uploaded", event_of(first)))
    wait_until(lambda: stack.processed(m1), timeout=10, message="the first upload")
    before, duplicates = dead_lettered("conflicting_duplicate"), sample("portal_documents_duplicate_total")
    other = PDF + b"% a corrected version\n"
    again = upload(stack.store, other, document_id=first.document_id)  # same id, other bytes, same inbox key
    stack.send(("document.uploaded", event_of(again)))
    [dead] = stack.dead_letters(1)
    assert dead.headers["x-dead-reason"].startswith(
        f"conflicting duplicate: document {first.document_id} is already stored with sha256 {first.sha256}")
    assert f"this upload has sha256 {again.sha256}" in dead.headers["x-dead-reason"]
    assert stack.store.data("portal-inbox", again.key) == other  # nothing deleted: the operator decides
    key = f"customers/C-1/{first.document_id}.pdf"
    assert stack.store.data("portal-documents", key) == PDF  # the stored document is untouched
    assert dead_lettered("conflicting_duplicate") == before + 1
    assert sample("portal_documents_duplicate_total") == duplicates
