"""The gateway's invalidation feed on the real RabbitMQ (gateway/src/gateway/feed.py).

The cache may answer only while the feed tells it every change: live only once its queue is bound and consumed, an
event of each key reaches the cache decoded, a key it does not bind never does, and the moment the broker drops the
connection — or falls silent — the cache is told it is not live; then the feed subscribes again by itself. Under
gunicorn each worker process has its own feed. The broker user's rights: tests/integration/test_broker_users.py.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pika
import pytest
import requests

from gateway.cache import ROUTING_KEYS
from gateway.feed import HEARTBEAT_S, Feed
from portal_common import testing
from portal_common.testing import free_port, wait_until

pytestmark = [pytest.mark.broker]
ROOT = Path(__file__).resolve().parents[2]


class RecordingCache:
    """Stands in for gateway.cache.cache(): what the feed told it, in order. At ``set_live(True)`` it asks the
    broker (``snapshot``) what the queue looks like at that moment."""

    def __init__(self, snapshot=None):
        self.calls: list[tuple] = []
        self.snapshot = snapshot
        self.at_live: list = []
        self._lock = threading.Lock()

    def set_live(self, live: bool) -> None:
        if live and self.snapshot is not None:
            self.at_live.append(self.snapshot())
        with self._lock:
            self.calls.append(("live", live))

    def handle_event(self, event: str, body: dict) -> None:
        with self._lock:
            self.calls.append((event, body))

    @property
    def live(self) -> bool:
        with self._lock:
            lives = [value for kind, value in self.calls if kind == "live"]
        return bool(lives) and lives[-1]

    def events(self) -> list[tuple]:
        with self._lock:
            return [call for call in self.calls if call[0] != "live"]

    def lives(self) -> list[bool]:
        with self._lock:
            return [value for kind, value in self.calls if kind == "live"]


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}"
    return result.stdout


@pytest.fixture
def ctl():
    import shutil

    if shutil.which("rabbitmqctl") is None:
        if testing.in_ci():
            pytest.fail("rabbitmqctl is needed to close a connection from the broker's side")
        pytest.skip("rabbitmqctl is not installed here")
    return rabbitmqctl


def connections(name_prefix: str) -> list[dict]:
    """The broker's connections whose client-given name starts with ``name_prefix``: ``pid`` and ``name``."""
    found = []
    for line in rabbitmqctl("list_connections", "pid", "client_properties", "--no-table-headers").splitlines():
        pid, _tab, props = line.partition("\t")
        match = re.search(r'\{"connection_name","([^"]*)"\}', props)
        if match and match.group(1).startswith(name_prefix):
            found.append({"pid": pid.strip(), "name": match.group(1)})
    return found


def bindings_of(queue: str) -> set[str]:
    rows = json.loads(rabbitmqctl("list_bindings", "source_name", "destination_name", "routing_key",
                                  "--formatter", "json") or "[]")
    return {row["routing_key"] for row in rows if row["destination_name"] == queue and row["source_name"]}


def consumers_of(queue: str) -> int | None:
    rows = json.loads(rabbitmqctl("list_queues", "name", "consumers", "exclusive", "durable", "auto_delete",
                                  "--formatter", "json") or "[]")
    for row in rows:
        if row["name"] == queue:
            return row
    return None


@pytest.fixture
def publish(channel, topology):
    def _publish(key: str, body: bytes) -> None:
        channel.basic_publish(topology.exchange, key, body,
                              pika.BasicProperties(content_type="application/json", message_id=str(uuid.uuid4())))
    return _publish


@pytest.fixture
def running(amqp_url, topology):
    """Start a feed with a recording cache; stopped (and its queue gone) afterwards."""
    started: list[Feed] = []

    def start(cache, url: str = amqp_url, **kwargs) -> Feed:
        feed = Feed(url, topology, cache, name=f"gateway-feed-test-{uuid.uuid4().hex}", **kwargs)
        started.append(feed.start())
        return feed
    yield start
    for feed in started:
        feed.stop(timeout=30)


def test_the_feed_goes_live_only_once_bound_and_consuming_and_hands_each_event_to_the_cache(
        running, publish, ctl):
    holder: dict = {}
    cache = RecordingCache(snapshot=lambda: (bindings_of(holder["feed"].queue), consumers_of(holder["feed"].queue)))
    holder["feed"] = feed = running(cache)
    wait_until(lambda: cache.live, timeout=30, message="the feed live")
    [(bound, queue)] = cache.at_live
    assert bound == set(ROUTING_KEYS), "live before every key was bound"
    assert queue["consumers"] == 1, "live before consuming"
    assert (queue["exclusive"], queue["durable"], queue["auto_delete"]) == (True, False, True)
    assert re.fullmatch(r"t[0-9a-f]{8}\.gateway\.feed\.[0-9a-f]{32}", feed.queue), feed.queue

    publish("account.credentials_reset", b'{"account_id": "A-0"}')  # not bound: must never arrive
    for n, key in enumerate(ROUTING_KEYS):
        publish(key, json.dumps({"n": n, "customer_id": "C-1"}).encode())
    wait_until(lambda: len(cache.events()) >= len(ROUTING_KEYS), timeout=30, message="every event")
    assert cache.events() == [(key, {"n": n, "customer_id": "C-1"}) for n, key in enumerate(ROUTING_KEYS)]

    publish("document.read", b"{not json")  # logged and counted, the feed stays subscribed
    publish("document.read", b'{"n": "after"}')
    wait_until(lambda: ("document.read", {"n": "after"}) in cache.events(), timeout=30, message="the next event")
    assert cache.lives() == [True] and feed.connections == 1
    assert not any(event == "account.credentials_reset" for event, _body in cache.events())


def test_a_connection_the_broker_closes_makes_the_cache_not_live_at_once_and_the_feed_comes_back(
        running, publish, ctl):
    cache = RecordingCache()
    feed = running(cache)
    wait_until(lambda: cache.live, timeout=30, message="the feed live")
    first_queue = feed.queue
    [conn] = wait_until(lambda: connections(feed.name), timeout=30, message="the feed's connection on the broker")
    ctl("close_connection", conn["pid"], "test: the broker drops the gateway's feed")

    wait_until(lambda: cache.lives()[:2] == [True, False], timeout=10, message="the cache told the feed is down")
    wait_until(lambda: cache.live and feed.connections == 2, timeout=30, message="the feed subscribed again")
    assert feed.queue != first_queue and consumers_of(first_queue) is None, "the old exclusive queue is gone"
    publish("policy.changed", b'{"customer_id": "C-2"}')
    wait_until(lambda: ("policy.changed", {"customer_id": "C-2"}) in cache.events(), timeout=30,
               message="an event after the reconnection")
    assert cache.lives() == [True, False, True]


def _proxy_class():
    spec = importlib.util.spec_from_file_location("feed_proxy", Path(__file__).with_name("_proxy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Proxy


def test_a_broker_that_falls_silent_is_noticed_by_the_heartbeats(amqp_url, running):
    """No reset, no close: the link just stops carrying bytes (a dead host, a partition). Only the heartbeats
    (HEARTBEAT_S, checked every second) tell; the cache must not keep answering on a feed that hears nothing."""
    port = int(re.search(r"@[^:/]+:(\d+)", amqp_url).group(1))
    proxy = _proxy_class()("127.0.0.1", port)
    via = re.sub(r"@[^/]+", f"@127.0.0.1:{proxy.start()}", amqp_url, count=1)
    cache = RecordingCache()
    try:
        running(cache, url=via)
        wait_until(lambda: cache.live, timeout=30, message="the feed live")
        proxy.freeze()
        frozen_at = time.monotonic()
        wait_until(lambda: not cache.live, timeout=2 * HEARTBEAT_S + 1, message="the silence noticed")
        print(f"silence noticed after {time.monotonic() - frozen_at:.1f} s (heartbeat {HEARTBEAT_S} s)")
    finally:
        proxy.stop()


def test_each_gunicorn_worker_runs_its_own_feed(amqp_url, namespace, tmp_path, ctl):
    """``make run`` and the image run the gateway under gunicorn: with RabbitMQ configured, each worker process
    subscribes its own feed after the fork, and /metrics shows one live feed per process."""
    public, ops, dead = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PROMETHEUS_"))}
    env.update(PORTAL_API_PORT=str(public), PORTAL_API_HOST="127.0.0.1", PORTAL_HEALTH_PORT=str(ops),
               PORTAL_HEALTH_HOST="127.0.0.1", PORTAL_VAR_DIR=str(tmp_path), PORTAL_API_WORKERS="2",
               PORTAL_GATEWAY_WORKERS="2", PORTAL_AMQP_URL=amqp_url, PORTAL_BUS_NAMESPACE=namespace,
               **{f"PORTAL_{svc}_URL": f"http://127.0.0.1:{dead}" for svc in ("IDENTITY", "POLICIES", "DOCUMENTS",
                                                                               "NOTIFY")})
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    log = open(tmp_path / "gateway.log", "wb")
    proc = subprocess.Popen([gunicorn, "-c", str(ROOT / "gateway" / "gunicorn.conf.py"), "gateway.app:create_app()"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def live_samples():
            assert proc.poll() is None, (tmp_path / "gateway.log").read_text()[-3000:]
            try:
                body = requests.get(f"http://127.0.0.1:{ops}/metrics", timeout=5).text
            except requests.RequestException:
                return None
            samples = re.findall(r'^portal_gateway_feed_live\{pid="(\d+)"\} ([0-9.]+)$', body, flags=re.M)
            return samples if len(samples) == 2 and all(float(v) == 1.0 for _pid, v in samples) else None

        samples = wait_until(live_samples, timeout=30, message="two live feeds in /metrics")
        worker_pids = {int(pid) for pid, _v in samples}
        assert os.getpgid(proc.pid) and proc.pid not in worker_pids, "the master runs no feed"
        feeds = wait_until(lambda: len(found := connections("gateway-feed ")) >= 2 and found, timeout=30,
                           message="the workers' feed connections")
        named = {int(f["name"].rsplit(" pid ", 1)[1]) for f in feeds}
        assert worker_pids <= named
        text = (tmp_path / "gateway.log").read_text()
        assert text.count("each worker process subscribes its own invalidation feed") == 1, "said once, by the master"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        log.close()
