"""Each publisher may publish only its own events, on the real RabbitMQ (issue 8, item 3).

A throwaway vhost gets the production topology (deploy/rabbitmq/definitions.json as generated) and throwaway users
with exactly the permissions of deploy/rabbitmq/permissions.json (imported with ``rabbitmqctl import_definitions``,
user names suffixed so parallel runs never meet). Then each user tries what an attacker holding its credential would.
Everything is removed afterwards.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from urllib.parse import quote

import pika
import pytest
from kombu import Connection

from portal_common import testing
from portal_common.broker_users import USER_PREFIX, export_permissions, users
from portal_common.bus import declare_topology, export_definitions, load_topology
from portal_common.config import ConfigError

pytestmark = [pytest.mark.broker]
REFUSED = 403


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}"
    return result.stdout


@pytest.fixture(scope="module")
def broker():
    testing.require_rabbitmq()
    if shutil.which("rabbitmqctl") is None:
        if testing.in_ci():
            pytest.fail("rabbitmqctl is needed to create throwaway broker users")
        pytest.skip("rabbitmqctl is not installed here")
    suffix = uuid.uuid4().hex[:8]
    vhost = f"portal-sec-{suffix}"
    topology = load_topology(namespace="")  # the production names, inside a vhost of our own
    passwords = {user: secrets.token_hex(16) for user in users(topology)}  # hex: never starts with "-"
    renamed = {user: f"{user}-{suffix}" for user in passwords}
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")  # the test's own admin access
        for user, password in passwords.items():
            rabbitmqctl("add_user", renamed[user], password)
        definitions = {**export_definitions(topology, vhost=vhost), **export_permissions(topology, vhost=vhost)}
        for entry in definitions["permissions"] + definitions["topic_permissions"]:
            entry["user"] = renamed[entry["user"]]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(definitions, f)
        os.chmod(f.name, 0o644)  # the broker node (another OS user) reads the file itself; it holds no password
        try:
            rabbitmqctl("import_definitions", f.name)
        finally:
            os.unlink(f.name)
        base = testing.AMQP_URL.split("@", 1)[1].split("/", 1)[0]
        urls = {user[len(USER_PREFIX):]: f"amqp://{quote(renamed[user])}:{quote(passwords[user])}@{base}/"
                                         f"{quote(vhost, safe='')}" for user in passwords}
        urls["admin"] = f"amqp://guest:guest@{base}/{quote(vhost, safe='')}"
        yield urls, topology
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=120)
        for user in renamed.values():
            subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True, timeout=120)


class As:
    """A pika channel with publisher confirms, logged in as one user."""

    def __init__(self, url: str):
        self.conn = pika.BlockingConnection(pika.URLParameters(url))
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()

    def publish(self, routing_key: str, exchange: str = "portal", headers: dict | None = None) -> None:
        self.ch.basic_publish(exchange, routing_key, json.dumps({"probe": routing_key}).encode(),
                              pika.BasicProperties(delivery_mode=2, message_id=str(uuid.uuid4()),
                                                   headers=headers or {}, content_type="application/json"),
                              mandatory=True)

    def refused(self, action) -> bool:
        """True when the broker answers ACCESS_REFUSED (and closes the channel: a new one is opened)."""
        try:
            action(self)
        except pika.exceptions.ChannelClosedByBroker as exc:
            self.ch = self.conn.channel()
            self.ch.confirm_delivery()
            return exc.reply_code == REFUSED
        return False

    def close(self):
        try:
            self.conn.close()
        except pika.exceptions.AMQPError:
            pass


@pytest.fixture
def login(broker):
    urls, _ = broker
    opened = []

    def _login(who: str) -> As:
        opened.append(As(urls[who]))
        return opened[-1]
    yield _login
    for session in opened:
        session.close()


def depth(login, queue: str) -> int:
    admin = login("admin")
    return admin.ch.queue_declare(queue, passive=True).method.message_count


def purge(login, *queues: str) -> None:
    admin = login("admin")
    for queue in queues:
        admin.ch.queue_purge(queue)


def test_the_core_system_publishes_its_two_events_and_nothing_else(login):
    core = login("core")
    purge(login, "policies.events", "documents.events", "notify.events")
    core.publish("policy.upserted")
    core.publish("document.uploaded")
    assert depth(login, "policies.events") == 1 and depth(login, "documents.events") == 2
    # The attack of issue 8: the core system's credential forging identity's events.
    for forged in ("account.closed", "account.activated", "customer.declared", "document.available",
                   "notification.failed", "policy.enrolled"):
        assert core.refused(lambda s: s.publish(forged)), forged
    assert depth(login, "notify.events") == 0 and depth(login, "documents.events") == 2


def test_each_service_publishes_only_its_own_routing_keys(login):
    owned = {"identity": ("account.closed", "customer.declared"), "documents": ("document.available",),
             "policies": ("policy.enrolled",), "notify": ("notification.failed",)}
    foreign = {"identity": ("document.available", "policy.upserted", "notification.failed"),
               "documents": ("account.closed", "document.uploaded", "policy.upserted"),
               "policies": ("policy.upserted", "account.closed"), "notify": ("account.closed", "policy.enrolled"),
               "crm": ("customer.contact_changed", "policy.upserted")}
    for who, keys in owned.items():
        session = login(who)
        for key in keys:
            session.publish(key)  # confirmed: no exception
    for who, keys in foreign.items():
        session = login(who)
        for key in keys:
            assert session.refused(lambda s: s.publish(key)), f"{who} published {key}"


def test_the_cache_invalidation_events_are_published_by_their_owners_only(login):
    """Issue 9: ``document.read`` and ``policy.changed`` are bound by no queue of the topology (only the gateway's
    per-process queues take them); here a queue of the administrator's stands in for one."""
    admin = login("admin")
    queue = admin.ch.queue_declare("", exclusive=True).method.queue
    for key in ("document.read", "policy.changed", "account.sessions_ended", "document.delivery_recorded"):
        admin.ch.queue_bind(queue, "portal", routing_key=key)
    login("documents").publish("document.read")
    login("documents").publish("document.delivery_recorded")
    login("policies").publish("policy.changed")
    login("identity").publish("account.sessions_ended")
    assert admin.ch.queue_declare(queue, passive=True).method.message_count == 4
    for who, key in (("documents", "policy.changed"), ("policies", "document.read"), ("core", "document.read"),
                     ("core", "policy.changed"), ("core", "account.sessions_ended"), ("notify", "document.read"),
                     ("core", "document.delivery_recorded"), ("notify", "document.delivery_recorded"),
                     ("policies", "document.delivery_recorded")):
        session = login(who)
        assert session.refused(lambda s: s.publish(key)), f"{who} published {key}"
    assert admin.ch.queue_declare(queue, passive=True).method.message_count == 4


def test_no_queue_of_the_topology_takes_the_delivery_record_events(login):
    """``document.delivery_recorded`` is for the gateways' feed queues only: notify (``document.available``,
    ``document.expiring``), documents and every other queue of the production topology leave it unrouted, so the
    broker returns it (the relay then marks it done: LIVE_SUBSCRIBERS_ONLY) and no consumer dead-letters it."""
    documents = login("documents")
    with pytest.raises(pika.exceptions.UnroutableError):
        documents.publish("document.delivery_recorded")


def test_a_service_reads_only_its_own_queue_and_cannot_widen_or_bypass_its_bindings(login):
    documents = login("documents")
    documents.ch.basic_get("documents.events", auto_ack=False)  # its own: allowed
    for queue in ("notify.events", "identity.events", "notify.dead"):
        assert documents.refused(lambda s: s.ch.basic_get(queue, auto_ack=False)), queue
    # Binding its own queue to everything (to receive the initial passwords' events) is refused by topic read rights.
    for key in ("#", "account.*", "account.initial_password_issued"):
        assert documents.refused(lambda s: s.ch.queue_bind("documents.events", "portal", routing_key=key)), key
    documents.ch.queue_bind("documents.events", "portal", routing_key="document.uploaded")  # its own binding
    # Another service's dead letters, the default exchange (reaches any queue by name), the shared exchanges.
    assert documents.refused(lambda s: s.ch.queue_bind("documents.events", "portal.dlx", routing_key="notify"))
    assert documents.refused(lambda s: s.publish("notify.events", exchange=""))
    assert documents.refused(lambda s: s.ch.exchange_delete("portal"))
    assert documents.refused(lambda s: s.ch.queue_delete("notify.events"))
    assert documents.refused(lambda s: s.ch.queue_declare("documents-spy", exclusive=True))


def test_the_portal_code_starts_with_a_restricted_user_and_names_what_is_missing(broker, login):
    urls, topology = broker
    for who in ("identity", "documents", "notify", "policies"):
        with Connection(urls[who]) as conn:
            declare_topology(conn, topology)  # declares what it may, verifies the rest: no exception
    admin = login("admin")
    admin.ch.queue_delete("crm.dead")
    try:
        with Connection(urls["notify"]) as conn, pytest.raises(ConfigError, match="crm.dead"):
            declare_topology(conn, topology)
        with Connection(urls["admin"]) as conn:
            declare_topology(conn, topology)
        admin.ch.exchange_delete("identity.dead")  # an upgrade that skipped the new definitions (deploy/rabbitmq)
        with Connection(urls["notify"]) as conn, pytest.raises(ConfigError, match="identity.dead"):
            declare_topology(conn, topology)
    finally:
        with Connection(urls["admin"]) as conn:
            declare_topology(conn, topology)  # the administrator restores it


def test_a_service_parks_retries_and_replays_only_through_its_own_tiers_and_requeue_exchange(login):
    """A retry tier and a requeue exchange lead straight into a work queue, past the portal exchange's topic
    permissions: only the service that owns them may publish there, or one service could smuggle any event into
    another's queue."""
    purge(login, "documents.events", "documents.retry.0")
    documents = login("documents")
    documents.publish("document.uploaded", exchange="documents.retry.0")  # its own tier: confirmed
    documents.publish("document.uploaded", exchange="documents.requeue")  # its own replay path: confirmed
    for exchange in ("notify.retry.0", "identity.retry.4", "notify.requeue", "identity.requeue"):
        assert documents.refused(lambda s: s.publish("account.closed", exchange=exchange)), exchange
    assert login("core").refused(lambda s: s.publish("account.closed", exchange="documents.requeue"))
    # The tier's TTL (5 s) expires the parked message back into documents.events, routing key kept.
    testing.wait_until(lambda: depth(login, "documents.events") == 2, timeout=60,
                       message="the parked message back in documents.events")


def test_a_forged_event_header_is_not_believed_the_delivery_is_dead_lettered(broker, login, tmp_path):
    """The core system may publish document.uploaded; it labels it ``event: account.closed`` to hide a customer's
    documents. The worker (documents' own restricted user) never takes the header's word: the routing key is the
    event name, and a header naming another event makes the delivery a dead letter with the reason (an operator sees
    the forgery), nothing applied."""
    import threading

    from sqlalchemy import MetaData

    from portal_common.consumer import Worker
    from portal_common.db import make_engine, make_session_factory, plumbing_tables
    from portal_common.testing import plumbing_bus, take_dead_letters, wait_until

    urls, topology = broker
    engine = make_engine(f"sqlite:///{tmp_path / 'documents.db'}")
    metadata = MetaData()
    plumbing_tables(metadata)
    metadata.create_all(engine)
    applied: list[str] = []
    purge(login, "documents.events", "documents.dead")
    bus = plumbing_bus(lambda data, *, uow, message: applied.append(message.event),
                       ["document.uploaded", "account.closed"])
    worker = Worker("documents", bus, make_session_factory(engine), topology, url=urls["documents"], max_wait=0.02)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.connected, timeout=30, message="the worker to consume")
        login("core").publish("document.uploaded", headers={"event": "account.closed", "version": 1})
        [dead] = take_dead_letters(topology, "documents", 1, timeout=30, url=urls["documents"])
        assert dead.headers["x-dead-reason"] == ("event header 'account.closed' does not match the routing key "
                                                 "'document.uploaded'")
        assert dead.headers["x-dead-routing-key"] == "document.uploaded"
        login("core").publish("document.uploaded", headers={"event": "document.uploaded", "version": 1})
        wait_until(lambda: applied, timeout=30, message="the honest message")
        assert applied == ["document.uploaded"]
    finally:
        worker.stop()
        thread.join(timeout=10)
        engine.dispose()


def test_a_service_may_dead_letter_only_into_its_own_dead_letter_queue(login):
    """``portal.dlx`` is a direct exchange, where topic permissions do not apply: with write on it, documents'
    credential could drop a forged ``account.closed`` into identity's dead letters, and an operator's replay would
    have identity apply an event the broker never let documents publish. Each consumer dead-letters through its own
    ``<svc>.dead`` exchange; ``portal.dlx`` is the broker's alone (a work queue's delivery limit)."""
    purge(login, "identity.dead", "notify.dead", "documents.dead")
    documents = login("documents")
    forged = {"x-dead-reason": "looks real", "x-dead-service": "identity", "x-dead-routing-key": "account.closed"}
    for exchange, key in (("identity.dead", "identity"), ("notify.dead", "notify"), ("portal.dlx", "identity"),
                          ("portal.dlx", "documents")):
        assert documents.refused(lambda s: s.publish(key, exchange=exchange, headers=forged)), exchange
    assert depth(login, "identity.dead") == 0 and depth(login, "notify.dead") == 0
    documents.publish("documents", exchange="documents.dead")  # its own: confirmed
    assert depth(login, "documents.dead") == 1


def test_a_service_consumer_still_dead_letters_a_poison_message_with_its_reason(broker, login, tmp_path,
                                                                                  monkeypatch):
    """Identity's worker, logged in as identity, takes a policy.upserted whose body is not JSON: the operator finds
    it in identity's dead letters with the reason, through ``portal-deadletters`` (as the administrator)."""
    import io
    import threading

    from sqlalchemy import MetaData

    from portal_common import deadletters
    from portal_common.consumer import Worker
    from portal_common.db import make_engine, make_session_factory, plumbing_tables
    from portal_common.testing import plumbing_bus, wait_until

    urls, topology = broker
    engine = make_engine(f"sqlite:///{tmp_path / 'identity.db'}")
    metadata = MetaData()
    plumbing_tables(metadata)
    metadata.create_all(engine)
    purge(login, "identity.events", "identity.dead")
    worker = Worker("identity", plumbing_bus(lambda data, *, uow, message: None, ["policy.upserted"]),
                    make_session_factory(engine), topology, url=urls["identity"], max_wait=0.02)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.connected, timeout=30, message="the worker to consume")
        poison = str(uuid.uuid4())
        login("core").ch.basic_publish("portal", "policy.upserted", b"{not json",
                                       pika.BasicProperties(delivery_mode=2, message_id=poison,
                                                            content_type="application/json",
                                                            headers={"event": "policy.upserted", "version": 1}),
                                       mandatory=True)
        wait_until(lambda: depth(login, "identity.dead") == 1, timeout=30, message="the poison message dead")
    finally:
        worker.stop()
        thread.join(timeout=10)
        engine.dispose()
    monkeypatch.setenv("PORTAL_AMQP_URL", urls["admin"])
    out = io.StringIO()
    assert deadletters.main(["show", "identity", poison], out=out, topology=topology) == 0
    text = out.getvalue()
    assert "service:        identity" in text and "event:          policy.upserted" in text
    reason = next(line for line in text.splitlines() if line.startswith("reason:"))
    assert "JSON" in reason, text
    assert depth(login, "identity.dead") == 1  # shown, not taken


def test_the_gateway_feed_binds_its_own_queue_with_the_cache_keys_and_receives_them(broker, login):
    """The gateway's invalidation feed (gateway/src/gateway/feed.py), logged in as portal-gateway: the portal code
    declares, binds and consumes its exclusive queue with exactly these rights, and the cache hears each key."""
    import threading

    from gateway.feed import Feed
    from portal_common.broker_users import GATEWAY_FEED_KEYS
    from portal_common.testing import wait_until

    urls, topology = broker
    heard, lock = [], threading.Lock()

    class Cache:
        live = False

        def set_live(self, live):
            Cache.live = live

        def handle_event(self, event, body):
            with lock:
                heard.append((event, body))

    feed = Feed(urls["gateway"], topology, Cache()).start()
    try:
        wait_until(lambda: Cache.live, timeout=30, message="the gateway's feed live as portal-gateway")
        admin = login("admin")
        for key in GATEWAY_FEED_KEYS:
            admin.publish(key)
        wait_until(lambda: len(heard) == len(GATEWAY_FEED_KEYS), timeout=30, message="every key heard")
        assert heard == [(key, {"probe": key}) for key in GATEWAY_FEED_KEYS]
        assert feed.failures == 0
    finally:
        feed.stop()


def test_the_gateway_may_not_widen_its_feed_publish_or_read_other_queues(login):
    from portal_common.broker_users import GATEWAY_FEED_KEYS

    gateway = login("gateway")
    own = f"gateway.feed.{uuid.uuid4().hex}"
    gateway.ch.queue_declare(own, durable=False, exclusive=True, auto_delete=True)
    for key in GATEWAY_FEED_KEYS:
        gateway.ch.queue_bind(own, "portal", routing_key=key)
    assert "document.delivery_recorded" in GATEWAY_FEED_KEYS  # the documents page shows the delivery record
    # Wider or other keys: the initial passwords' and credential events, everything, a whole aggregate.
    for key in ("#", "account.credentials_reset", "account.initial_password_issued", "account.*", "policy.upserted",
                "document.*", "document.expiring"):
        assert gateway.refused(lambda s: s.ch.queue_bind(own, "portal", routing_key=key)), key
    # Publishes nothing: not its keys, not others', not through the default exchange or a service's back doors.
    for key in ("document.read", "document.delivery_recorded", "account.closed", "policy.upserted"):
        assert gateway.refused(lambda s: s.publish(key)), key
    assert gateway.refused(lambda s: s.publish(own, exchange=""))
    assert gateway.refused(lambda s: s.publish("document.uploaded", exchange="documents.requeue"))
    # Reads no other queue, binds nothing elsewhere, declares nothing but its own feed queues.
    for queue in ("notify.events", "identity.events", "documents.dead"):
        assert gateway.refused(lambda s: s.ch.basic_get(queue, auto_ack=False)), queue
    assert gateway.refused(lambda s: s.ch.queue_bind(own, "portal.dlx", routing_key="identity"))
    assert gateway.refused(lambda s: s.ch.queue_bind("notify.events", "portal", routing_key="document.read"))
    for name in ("gateway-spy", "gateway.feed.x", "notify.events.gateway.feed." + uuid.uuid4().hex):
        assert gateway.refused(lambda s: s.ch.queue_declare(name, exclusive=True, auto_delete=True)), name
    assert gateway.refused(lambda s: s.ch.queue_delete("notify.events"))
    assert gateway.refused(lambda s: s.ch.exchange_delete("portal"))
