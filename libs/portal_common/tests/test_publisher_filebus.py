"""The publisher on ``make run``'s file bus reports a message no queue is bound for as RabbitMQ does (unroutable),
instead of dropping it and counting it delivered — and the outbox relay keeps such a row for a later attempt."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select

from portal_common.bus import OutgoingMessage, Publisher, load_topology
from portal_common.db import make_engine, make_session_factory, plumbing_tables
from portal_common.outbox import OutboxRelay, add_event
from portal_common.testing import OCCURRED_AT, fresh_file_bus_memory


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A file bus of this test's own (folder and kombu's binding memory); returns its message folder."""
    fresh_file_bus_memory(monkeypatch)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("PORTAL_AMQP_URL", raising=False)
    return tmp_path / "var" / "bus" / "data"


@pytest.fixture
def publisher(data):
    publisher = Publisher(load_topology(namespace=""), url=None)
    yield publisher
    publisher.close()


def message(event: str, n: int) -> OutgoingMessage:
    return OutgoingMessage.for_event(str(uuid.uuid4()), event, {"n": n}, occurred_at=OCCURRED_AT, correlation_id=None)


def queued(data, queue: str) -> list[dict]:
    """The bodies waiting in ``queue``, oldest first (kombu's file: the body base64-encoded in a JSON envelope)."""
    files = [json.loads(p.read_text()) for p in sorted(data.glob(f"*.{queue}.msg"))]
    return [json.loads(base64.b64decode(f["body"])) for f in files]


def test_an_unroutable_message_is_an_error_for_that_message_only_and_goes_nowhere(publisher, data):
    before, lost, after = message("policy.upserted", 1), message("nobody.listens", 2), message("policy.upserted", 3)
    results = publisher.publish_batch([before, lost, after])
    assert results[before.message_id] is None and results[after.message_id] is None
    assert results[lost.message_id] == "unroutable: no queue bound to 'portal' with key 'nobody.listens'"
    assert results[lost.message_id].kind == "unroutable"  # the metric label, as on RabbitMQ
    # policy.upserted is bound by policies, identity and documents; the lost message is in no queue at all
    for queue in ("policies.events", "identity.events", "documents.events"):
        assert queued(data, queue) == [{"n": 1}, {"n": 3}]
    assert len(list(data.glob("*.msg"))) == 6


def test_a_key_no_binding_of_another_exchange_takes_is_unroutable_too(publisher, data):
    dead = message("policy.upserted", 1)
    dead.exchange, dead.routing_key = "policies.dead", "policies"  # as the consumer dead-letters (fanout)
    limit = message("policy.upserted", 2)
    limit.exchange, limit.routing_key = "portal.dlx", "policies"  # as RabbitMQ dead-letters (delivery limit)
    stray = message("policy.upserted", 3)
    stray.exchange, stray.routing_key = "portal.dlx", "nobody"
    results = publisher.publish_batch([dead, limit, stray])
    assert results == {dead.message_id: None, limit.message_id: None,
                       stray.message_id: "unroutable: no queue bound to 'portal.dlx' with key 'nobody'"}
    assert queued(data, "policies.dead") == [{"n": 1}, {"n": 2}] and len(list(data.glob("*.msg"))) == 2


def test_the_relay_keeps_an_unroutable_row_for_a_later_attempt_as_on_rabbitmq(publisher, data, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    metadata = MetaData()
    outbox, _processed = plumbing_tables(metadata)
    metadata.create_all(engine)
    session_factory = make_session_factory(engine)
    relay = OutboxRelay("policies", session_factory, publisher)

    def failures():
        return REGISTRY.get_sample_value("portal_publish_failures_total",
                                         {"service": "policies", "reason": "unroutable"}) or 0

    counted = failures()
    with session_factory() as session, session.begin():
        routed = add_event(session, "policy.enrolled", {"n": 1})
        lost = add_event(session, "nobody.listens", {"n": 2})
    assert relay.relay_once() == 1
    with session_factory() as session:
        rows = {r["event_id"]: r for r in session.execute(select(outbox)).mappings()}
    assert rows[routed]["published_at"] is not None and rows[routed]["last_error"] is None
    assert rows[lost]["published_at"] is None and rows[lost]["attempts"] == 1  # the sweeper tries it again
    assert rows[lost]["last_error"] == "unroutable: no queue bound to 'portal' with key 'nobody.listens'"
    assert failures() == counted + 1
    assert queued(data, "notify.events") == [{"n": 1}] and len(list(data.glob("*.msg"))) == 1
    engine.dispose()
