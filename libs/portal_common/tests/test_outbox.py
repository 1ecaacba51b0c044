"""The outbox relay with a fake broker, on SQLite: publish, mark, back off, sweep, scrub secrets, keep the order."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData, select, update

from portal_common.db import make_engine, make_session_factory, plumbing_tables, utcnow
from portal_common.outbox import OutboxRelay, add_event, backlog, oldest_unpublished_age
from portal_common.testing import FakePublisher, deadline_for, wait_until


@pytest.fixture
def db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    metadata = MetaData()
    outbox, _processed = plumbing_tables(metadata)
    metadata.create_all(engine)
    yield make_session_factory(engine), outbox
    engine.dispose()


@pytest.fixture
def broker() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def relay(db, broker) -> OutboxRelay:
    return OutboxRelay("policies", db[0], broker, batch_size=100, max_backoff=30.0)


def stage(db, name="policy.enrolled", payload=None, **kwargs) -> str:
    with db[0]() as session, session.begin():
        return add_event(session, name, payload or {"policy_number": "KGFB-1"}, **kwargs)


def rows(db) -> list[dict]:
    session_factory, outbox = db
    with session_factory() as session:
        return [dict(r) for r in session.execute(select(outbox).order_by(outbox.c.seq)).mappings()]


def make_due(db) -> None:
    """Let the back-off pass (as if its time had come)."""
    session_factory, outbox = db
    with session_factory() as session, session.begin():
        session.execute(update(outbox).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_confirmed_rows_are_published_with_the_wire_headers_and_marked(db, broker, relay):
    event_id = stage(db, payload={"policy_number": "HOME-1", "customer_id": "C-1"}, correlation_id="corr-42")
    assert relay.relay_once() == 1
    [message] = broker.sent
    assert message.message_id == event_id and message.routing_key == "policy.enrolled"
    assert json.loads(message.body) == {"policy_number": "HOME-1", "customer_id": "C-1"}
    assert message.headers["event"] == "policy.enrolled" and message.headers["version"] == 1
    assert message.headers["correlation_id"] == "corr-42"
    assert datetime.fromisoformat(message.headers["occurred_at"]).tzinfo is not None
    [row] = rows(db)
    assert row["published_at"] is not None and row["attempts"] == 0 and row["last_error"] is None
    assert relay.relay_once() == 0 and relay.sweep_once() == 0  # nothing is sent twice
    assert len(broker.sent) == 1


def test_dates_go_on_the_wire_as_iso_8601(db, broker, relay):
    stage(db, payload={"on": date(2026, 11, 21), "at": datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)})
    relay.relay_once()
    assert broker.payloads() == [{"on": "2026-11-21", "at": "2026-11-21T10:00:00+00:00"}]


def test_a_failed_publish_leaves_the_row_for_later_with_a_back_off(db, broker, relay):
    stage(db)
    broker.down = True
    before = utcnow()
    assert relay.relay_once() == 0
    [row] = rows(db)
    assert row["published_at"] is None and row["attempts"] == 1
    assert "Connection refused" in row["last_error"]
    assert before + timedelta(seconds=1.5) < row["next_attempt_at"] <= utcnow() + timedelta(seconds=2)
    assert relay.healthy is False
    with db[0]() as session:
        assert backlog(session) == 1


def test_publish_failures_are_counted_by_a_fixed_kind_never_by_message_text(db, broker, relay):
    from prometheus_client import REGISTRY

    from portal_common.bus import PublishFailure

    def failures(kind):
        return REGISTRY.get_sample_value("portal_publish_failures_total", {"service": "policies", "reason": kind}) or 0

    before = {k: failures(k) for k in ("broker_unavailable", "unroutable")}
    stage(db)
    broker.down = True
    relay.relay_once()
    broker.down = False
    make_due(db)
    [row] = rows(db)
    broker.errors[row["event_id"]] = PublishFailure("unroutable: no queue bound to 'portal' with key 'x.y'",
                                                    "unroutable")
    relay.sweep_once()
    assert failures("broker_unavailable") == before["broker_unavailable"] + 1
    assert failures("unroutable") == before["unroutable"] + 1


def test_sweep_republishes_only_after_the_back_off_has_passed(db, broker, relay):
    event_id = stage(db)
    broker.down = True
    relay.relay_once()
    broker.down = False
    assert relay.relay_once() == 0, "relay_once takes fresh rows only"
    assert relay.sweep_once() == 0, "the back-off has not passed yet"
    assert broker.sent == []
    make_due(db)
    assert relay.sweep_once() == 1
    assert [m.message_id for m in broker.sent] == [event_id]
    [row] = rows(db)
    assert row["published_at"] is not None and row["attempts"] == 1 and row["last_error"] is None
    assert relay.healthy is True


def test_the_back_off_grows_and_is_capped(db, broker):
    relay = OutboxRelay("policies", db[0], broker, max_backoff=5.0)
    stage(db)
    broker.down = True
    for attempt, delay in enumerate([2, 4, 5, 5]):  # seconds after the failed attempt: doubling, capped at 5
        if attempt:
            make_due(db)
        start = utcnow()
        relay.sweep_once() if attempt else relay.relay_once()
        end = utcnow()
        # The relay reads its clock once, somewhere between start and end: exact, however long the call takes on a
        # loaded machine (rounding the time since start was off by one past a 0.5 s stall).
        due = rows(db)[0]["next_attempt_at"]
        assert start + timedelta(seconds=delay) <= due <= end + timedelta(seconds=delay), (attempt, due - start)
    assert rows(db)[0]["attempts"] == 4


def test_one_rejected_message_does_not_hold_back_the_others(db, broker, relay):
    ids = [stage(db, payload={"n": n}) for n in range(3)]
    broker.errors[ids[1]] = "unroutable: no queue bound to 'portal' with key 'policy.enrolled'"
    assert relay.relay_once() == 2
    state = [(r["event_id"], r["published_at"] is not None, r["attempts"], r["last_error"]) for r in rows(db)]
    assert state[0][1:] == (True, 0, None) and state[2][1:] == (True, 0, None)
    assert state[1][1:3] == (False, 1) and state[1][3].startswith("unroutable")


def test_secret_fields_are_blanked_once_published_but_kept_while_unpublished(db, broker, relay):
    payload = {"account_id": "A-1", "one_time_password": "Titok-123456", "email": "anna@example.com"}
    stage(db, "account.credentials_reset", payload, secret_fields=("one_time_password",))
    broker.down = True
    relay.relay_once()
    assert json.loads(rows(db)[0]["payload"])["one_time_password"] == "Titok-123456"  # needed for the retry
    broker.down = False
    make_due(db)
    relay.sweep_once()
    assert broker.payloads()[0]["one_time_password"] == "Titok-123456"  # the recipient gets it
    stored = json.loads(rows(db)[0]["payload"])
    assert stored == {"account_id": "A-1", "one_time_password": "[sent]", "email": "anna@example.com"}


def test_rows_are_published_in_fifo_order_by_seq_across_batches(db, broker):
    relay = OutboxRelay("policies", db[0], broker, batch_size=3)
    ids = [stage(db, payload={"n": n}) for n in range(8)]
    while relay.relay_once():
        pass
    assert [m.message_id for m in broker.sent] == ids
    assert [len(batch) for batch in broker.batches] == [3, 3, 2]


def test_a_failed_row_waits_out_its_back_off_while_newer_rows_go_ahead(db, broker, relay):
    """FIFO holds among the rows published together; a row in back-off does not block the outbox (one poison row
    must not stop a service's events), so consumers cannot rely on order across a failure: they use updated_at."""
    first = stage(db, payload={"n": 1})
    broker.down = True
    relay.relay_once()
    broker.down = False
    second = stage(db, payload={"n": 2})
    relay.relay_once()
    make_due(db)
    relay.sweep_once()
    assert [m.message_id for m in broker.sent] == [second, first]
    assert all(r["published_at"] for r in rows(db))


def test_run_forever_relays_in_the_background_and_closes_the_publisher_on_stop(db, broker):
    relay = OutboxRelay("policies", db[0], broker, idle_interval=0.01)
    thread = threading.Thread(target=relay.run_forever, daemon=True)
    thread.start()
    try:
        event_id = stage(db)
        wait_until(lambda: broker.sent, timeout=5, interval=0.02, message="the relay to publish")
        assert broker.sent[0].message_id == event_id
    finally:
        relay.stop()
        thread.join(timeout=deadline_for(5))  # a loaded machine may take its time; a stuck relay still fails
    assert not thread.is_alive() and broker.closed == 1


def test_oldest_unpublished_age_follows_the_oldest_waiting_row(db, broker, relay):
    """The gauge behind the PortalOutboxStuck alert (deploy/monitoring): the oldest unpublished row's age, 0 when
    everything is published. Compared against an explicit instant, not the wall clock."""
    session_factory, outbox = db
    with session_factory() as session:
        assert oldest_unpublished_age(session, utcnow()) == 0.0
    stage(db)
    stage(db)
    with session_factory() as session, session.begin():
        first = session.execute(select(outbox.c.seq).order_by(outbox.c.seq)).scalars().first()
        session.execute(update(outbox).where(outbox.c.seq == first)
                        .values(occurred_at=datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)))
    with session_factory() as session:
        assert oldest_unpublished_age(session, datetime(2026, 12, 1, 10, 1, 30, tzinfo=timezone.utc)) == 90.0
    relay.relay_once()
    with session_factory() as session:
        assert oldest_unpublished_age(session, utcnow()) == 0.0


def test_an_event_from_a_writer_whose_clock_runs_ahead_is_published_at_once(db, broker, relay):
    """An API pod ten minutes ahead of the relay's pod stamps its row ten minutes in the relay's future."""
    event_id = stage(db)
    session_factory, outbox = db
    with session_factory() as session, session.begin():
        session.execute(update(outbox).values(occurred_at=utcnow() + timedelta(minutes=10),
                                              next_attempt_at=utcnow() + timedelta(minutes=10)))
    assert relay.relay_once() == 1
    assert [m.message_id for m in broker.sent] == [event_id]
    assert rows(db)[0]["published_at"] is not None


def test_an_event_only_live_subscribers_take_is_done_when_none_is_bound(db, broker):
    """Issue 9: the gateway's per-process queues are the only ones bound for ``document.read``; while no gateway is
    subscribed the broker returns it unroutable. That row is done (nobody to tell), not retried for ever behind a
    PortalOutboxStuck alert; any other unroutable event still fails and waits for its back-off."""
    from prometheus_client import REGISTRY

    from portal_common.bus import PublishFailure

    def sample(name, **labels):
        return REGISTRY.get_sample_value(name, {"service": "documents", **labels}) or 0

    relay = OutboxRelay("documents", db[0], broker, unrouted_ok=("document.read",))
    before = (sample("portal_messages_unrouted_total", event="document.read"),
              sample("portal_publish_failures_total", reason="unroutable"),
              sample("portal_messages_published_total", event="document.read"))
    live_only, other = stage(db, "document.read", {"document_id": "d-1"}), stage(db, "document.available")
    for event_id, key in ((live_only, "document.read"), (other, "document.available")):
        broker.errors[event_id] = PublishFailure(f"unroutable: no queue bound to 'portal' with key '{key}'",
                                                 "unroutable")
    relay.relay_once()
    state = {r["event_id"]: (r["published_at"] is not None, r["attempts"]) for r in rows(db)}
    assert state == {live_only: (True, 0), other: (False, 1)}
    assert (sample("portal_messages_unrouted_total", event="document.read"),
            sample("portal_publish_failures_total", reason="unroutable"),
            sample("portal_messages_published_total", event="document.read")) == (before[0] + 1, before[1] + 1,
                                                                                  before[2])
    broker.errors.clear()
    make_due(db)
    assert relay.sweep_once() == 1 and [m.message_id for m in broker.sent] == [other]  # only the other one again
    stage(db, "document.read", {"document_id": "d-2"})
    relay.relay_once()  # routable (a gateway is subscribed): published like any other
    assert broker.payloads()[-1] == {"document_id": "d-2"}
