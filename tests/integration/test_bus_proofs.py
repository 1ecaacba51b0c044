"""The platform's proofs (issue: platform): an event published by an outside system crosses RabbitMQ into a service
with nothing lost and nothing applied twice, also when the broker or a worker dies on the way.

Everything here runs against the real RabbitMQ and PostgreSQL; the outside system is played by raw pika.
"""
from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pika
import pytest
from sqlalchemy import create_engine, text

from portal_common import testing
from portal_common.testing import apply_event, caller_headers, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.database, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "contracts" / "events" / "examples" / "policy.upserted.v1.json").read_text())


def policy_message(number: str, **changes) -> dict:
    message = json.loads(json.dumps(EXAMPLE))
    message["policy_number"] = number
    message.update(changes)
    return message


def publish(channel, exchange: str, routing_key: str, body, message_id: str | None = None) -> str:
    message_id = message_id or str(uuid.uuid4())
    channel.basic_publish(
        exchange, routing_key, body if isinstance(body, (bytes, str)) else json.dumps(body),
        pika.BasicProperties(message_id=message_id, delivery_mode=2, content_type="application/json"),
        mandatory=True,
    )
    return message_id


def queue_depth(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def scalar(db_url: str, sql: str, **params):
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def policies_api(policies_db):
    from policies.entrypoints.api import create_app

    app = create_app(database_url=policies_db)
    client = app.test_client()
    client.environ_base["HTTP_X_SERVICE_TOKEN"] = caller_headers()["X-Service-Token"]
    yield client
    app.extensions["policies"].engine.dispose()


@pytest.fixture
def policies_worker(processes, policies_worker_env, topology):
    proc = processes.start(["-m", "policies.entrypoints.worker"], policies_worker_env, "policies-worker")
    port = policies_worker_env["PORTAL_HEALTH_PORT"]
    import requests

    def ready():
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(ready, 30, message="policies worker /readyz")
    wait_until(lambda: _queue_consumed(topology.for_service("policies").queue), 10, message="the worker consuming")
    return proc


def _queue_exists(name: str, consumed: bool = False) -> bool:
    url = testing.AMQP_URL
    conn = pika.BlockingConnection(pika.URLParameters(url[:-1] + "%2F" if url.endswith("//") else url))
    try:
        declared = conn.channel().queue_declare(name, passive=True)
        return declared.method.consumer_count > 0 if consumed else True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if conn.is_open:
            conn.close()


def _queue_consumed(name: str) -> bool:
    """The worker has declared the whole topology (its queue AND the queue's bindings) and consumes: a message
    published now is routed. The queue alone exists a moment before its bindings, and a mandatory publish in that
    moment comes back unroutable (seen on a loaded machine)."""
    return _queue_exists(name, consumed=True)


# 1 ------------------------------------------------------------------------------------------------------------------
def test_policy_published_by_raw_pika_is_served_by_the_policies_api(channel, topology, policies_worker,
                                                                     policies_api):
    publish(channel, topology.exchange, "policy.upserted", policy_message("KGFB-PROOF-1"))

    response = wait_until(lambda: (r := policies_api.get("/internal/policies/KGFB-PROOF-1")).status_code == 200 and r,
                          20, message="the policy in the API")
    body = response.get_json()
    assert body["product"] == EXAMPLE["product"]
    assert body["premium"] == EXAMPLE["premium"]
    assert body["policyholder"]["customer_id"] == EXAMPLE["policyholder"]["customer_id"]


# 2 ------------------------------------------------------------------------------------------------------------------
def test_the_same_message_twice_changes_nothing_and_both_are_acked(channel, topology, policies_worker, policies_api,
                                                                    policies_db, processes):
    message_id = str(uuid.uuid4())
    first = policy_message("KGFB-PROOF-2", premium={"amount": 1000, "frequency": "annual"})
    publish(channel, topology.exchange, "policy.upserted", first, message_id)
    wait_until(lambda: policies_api.get("/internal/policies/KGFB-PROOF-2").status_code == 200, 20)
    # Same message id again, even with a changed body: it is the same message and must not be applied again.
    again = policy_message("KGFB-PROOF-2", premium={"amount": 999999, "frequency": "annual"})
    publish(channel, topology.exchange, "policy.upserted", again, message_id)
    queue = topology.for_service("policies").queue
    wait_until(lambda: queue_depth(channel, queue) == 0, 20, message="queue drained")
    time.sleep(1.0)
    policies_worker.send_signal(signal.SIGTERM)
    policies_worker.wait(20)

    # No unacked message came back to the queue when the worker's connection closed: both deliveries were acked,
    # and the second one as a duplicate, not by dead-lettering it.
    assert queue_depth(channel, queue) == 0
    assert queue_depth(channel, topology.for_service("policies").dead_letter_queue) == 0
    assert policies_api.get("/internal/policies/KGFB-PROOF-2").get_json()["premium"]["amount"] == 1000
    assert scalar(policies_db, "SELECT count(*) FROM processed_messages WHERE message_id = :m", m=message_id) == 1


# 3 ------------------------------------------------------------------------------------------------------------------
def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_worker_goes_on(channel, topology,
                                                                                     policies_worker, policies_api):
    bad_json = publish(channel, topology.exchange, "policy.upserted", b"{not json")
    bad_schema = publish(channel, topology.exchange, "policy.upserted",
                         policy_message("KGFB-PROOF-3X", product="yacht"))
    publish(channel, topology.exchange, "policy.upserted", policy_message("KGFB-PROOF-3"))

    wait_until(lambda: policies_api.get("/internal/policies/KGFB-PROOF-3").status_code == 200, 20,
               message="the valid message after the bad ones")
    dead_queue = topology.for_service("policies").dead_letter_queue
    wait_until(lambda: queue_depth(channel, dead_queue) == 2, 20, message="two dead letters")
    reasons = {}
    for _ in range(2):
        method, props, body = channel.basic_get(dead_queue, auto_ack=True)
        reasons[props.message_id] = props.headers["x-dead-reason"]
        assert props.headers["x-dead-queue"] == topology.for_service("policies").queue
    assert reasons[bad_json].startswith("invalid JSON")
    assert "product" in reasons[bad_schema] and "schema violation" in reasons[bad_schema]
    assert policies_api.get("/internal/policies/KGFB-PROOF-3X").status_code == 404


# 4 ------------------------------------------------------------------------------------------------------------------
def test_worker_killed_mid_stream_applies_all_1000_exactly_once(channel, topology, processes, counter_worker_env,
                                                                 counter_db):
    env = counter_worker_env("policies", "policy.upserted", counter_batch=50, counter_delay=0.002)
    first = processes.start(["tests/integration/_counter_worker.py"], env, "counter-worker")
    wait_until(lambda: _queue_consumed(topology.for_service("policies").queue), 20, message="the worker consuming")
    ids = [publish(channel, topology.exchange, "policy.upserted", policy_message(f"P-{i}")) for i in range(1000)]

    wait_until(lambda: _applied(counter_db) >= 250, 60, message="a quarter applied")
    first.send_signal(signal.SIGKILL)  # no goodbye: unacked messages go back to the queue
    first.wait(10)
    assert _applied(counter_db) < 1000, "the worker finished before it could be killed; the proof proves nothing"

    processes.start(["tests/integration/_counter_worker.py"], env, "counter-worker-restarted")
    wait_until(lambda: _applied(counter_db) == 1000, 90, message="all 1000 applied")
    queue = topology.for_service("policies").queue
    wait_until(lambda: queue_depth(channel, queue) == 0, 20, message="queue drained")
    assert scalar(counter_db, "SELECT count(*) FROM applied WHERE n <> 1") == 0
    assert scalar(counter_db, "SELECT count(*) FROM applied") == len(set(ids)) == 1000


def _broker_closes_connections_of(pids: set[int], reason: str) -> list[str]:
    """Have RabbitMQ close every AMQP connection that the processes ``pids`` hold; the names it closed.

    RabbitMQ names a connection ``"<client host>:<client port> -> <server host>:<server port>"``; ``ss`` tells which
    local ports belong to which process, the broker's listing which Erlang pid serves each name."""
    listing = subprocess.run(["ss", "-tnpH", "state", "established", "( dport = :5672 )"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    names = []
    for line in listing.splitlines():
        fields = line.split()
        local, peer, users = fields[-3], fields[-2], fields[-1]
        if any(f"pid={pid}," in users for pid in pids):
            names.append(f"{local} -> {peer}")
    # close_connection wants the connection's Erlang pid: the broker's own listing maps names to pids.
    listed = subprocess.run(["rabbitmqctl", "-q", "--no-table-headers", "list_connections", "pid", "name"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    pid_of = {name: pid for pid, name in (row.split("\t", 1) for row in listed.splitlines() if "\t" in row)}
    closing = [name for name in names if name in pid_of]
    for name in closing:
        closed = subprocess.run(["rabbitmqctl", "close_connection", pid_of[name], reason],
                                capture_output=True, text=True, timeout=60)
        assert closed.returncode == 0, closed.stderr
    return closing


def _applied(db_url: str) -> int:
    try:
        return scalar(db_url, "SELECT count(*) FROM applied")
    except Exception:  # noqa: BLE001 - the table appears when the worker starts
        return 0


# 5 ------------------------------------------------------------------------------------------------------------------
def test_broker_closing_every_connection_during_an_outbox_stream_loses_nothing(channel, topology, processes,
                                                                                policies_worker_env, policies_db,
                                                                                counter_worker_env, counter_db):
    """The policies worker relays its outbox; a consumer counts deliveries; RabbitMQ drops every connection of both
    mid-stream. After reconnection every event arrived, and none took effect twice.

    The broker is shared with whatever else runs on the machine, so it closes this test's connections only (the
    same server-side ``connection.close`` that ``close_all_connections`` sends, addressed by connection name)."""
    from portal_common.db import make_engine, make_session_factory
    from portal_common.outbox import add_event

    relay = processes.start(["-m", "policies.entrypoints.worker"], policies_worker_env, "policies-relay")
    counter = processes.start(["tests/integration/_counter_worker.py"],
                              counter_worker_env("notify", "policy.enrolled", counter_batch=20), "counter-notify")
    wait_until(lambda: _queue_exists(topology.for_service("notify").queue), 20, message="notify queue declared")

    engine = make_engine(policies_db)
    sessions = make_session_factory(engine)
    written: list[str] = []

    def write_stream():
        for i in range(600):
            with sessions() as session, session.begin():
                written.append(add_event(session, "policy.enrolled", {
                    "policy_number": f"P-{i}", "customer_id": "C-1", "payment_method": "bank_transfer",
                    "previous_payment_method": "cheque"}))
            time.sleep(0.005)

    writer = threading.Thread(target=write_stream)
    writer.start()
    wait_until(lambda: _applied(counter_db) >= 100, 60, message="the stream flowing")
    closed = _broker_closes_connections_of({relay.pid, counter.pid}, "proof: broker drops every connection")
    assert len(closed) >= 2, f"the broker closed {closed}: expected the relay's and the consumer's connections"
    # The cut happened mid-stream: rows were still being written and not everything had arrived.
    assert writer.is_alive() and _applied(counter_db) < 600, "the stream ended before the cut; nothing was proven"
    writer.join(60)
    engine.dispose()

    wait_until(lambda: _applied(counter_db) == 600, 120, message="all 600 events delivered after reconnection")
    # A message whose confirm was lost with the connection stays unpublished in the outbox; the sweeper publishes it
    # again after its back-off. The consumer must then recognise the duplicate: still one effect per event.
    wait_until(lambda: scalar(policies_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0, 60,
               message="every outbox row confirmed (the sweeper re-publishes the ones whose confirm was lost)")
    time.sleep(1.0)
    assert scalar(counter_db, "SELECT count(*) FROM applied") == 600
    assert scalar(counter_db, "SELECT count(*) FROM applied WHERE n <> 1") == 0
    assert "consumer_disconnected" in Path(counter.log_path).read_text(), "the consumer never had to reconnect"


# 6 ------------------------------------------------------------------------------------------------------------------
def test_http_write_succeeds_while_the_broker_is_down_and_its_event_arrives_later(channel, topology, processes,
                                                                                   policies_worker_env, policies_api,
                                                                                   policies_db, amqp_url):
    proxy = _load_proxy().Proxy("127.0.0.1", 5672)
    port = proxy.start()
    env = {**policies_worker_env, "PORTAL_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{port}//"}
    processes.start(["-m", "policies.entrypoints.worker"], env, "policies-behind-proxy")
    wait_until(lambda: _queue_exists(topology.for_service("policies").queue), 30, message="topology declared")
    watch = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(watch, topology.exchange, "policy.enrolled")
    _store_policy(policies_db, policy_message("CASCO-PROOF-6", product="casco", payment_method="cheque"))

    proxy.stop()  # the broker is now unreachable for the service
    response = policies_api.post("/internal/policies/CASCO-PROOF-6/epost",
                                 json={"customer_id": EXAMPLE["policyholder"]["customer_id"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["payment_method"] == "bank_transfer"
    time.sleep(2.0)
    assert scalar(policies_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1
    assert channel.basic_get(watch, auto_ack=True)[0] is None

    proxy.start()  # the broker is back
    got = wait_until(lambda: channel.basic_get(watch, auto_ack=True)[0] and True, 60,
                     message="policy.enrolled delivered after the outage")
    assert got
    assert scalar(policies_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    proxy.stop()


def _load_proxy():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_proxy", Path(__file__).with_name("_proxy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _store_policy(db_url: str, message: dict) -> None:
    from policies.bootstrap import bootstrap

    wiring = bootstrap(db_url)
    apply_event(wiring.bus, wiring.session_factory, "policy.upserted", message)
    wiring.engine.dispose()
