"""The invalidation feed: one RabbitMQ subscription per gateway process that tells the process's cache
(:mod:`gateway.cache`) when what it keeps changes.

Per process, after the fork: gunicorn starts the feed in each worker (``post_worker_init`` in
gateway/gunicorn.conf.py calls :func:`start`), never in the master, so no connection or thread crosses a fork. The
Flask test client and any ``create_app()`` without gunicorn start none: their cache stays not live.

What it does, in a daemon thread:

1. connects with kombu/py-amqp as the gateway's own broker user (``PORTAL_AMQP_URL``, ``portal-gateway``);
2. declares an exclusive, auto-delete, non-durable classic queue ``<ns>.gateway.feed.<32 hex digits>``
   (:func:`portal_common.bus.gateway_feed_queue_name`; the name shape is all that user may configure), binds it to
   the ``portal`` exchange with each key of :data:`gateway.cache.ROUTING_KEYS` and consumes with auto-ack
   (invalidations are idempotent; one lost with a connection is covered because the cache drops everything when
   the feed goes down);
3. only then calls ``cache().set_live(True)``; every delivery's JSON object goes to
   ``cache().handle_event(routing_key, body)``. A body that is not a JSON object is logged at warning (never its
   content) and counted, and the cache forgets everything (``handle_event(routing_key, {})``: whom it was about
   cannot be read);
4. the connection or channel lost (reset, closed by the broker, the queue deleted, heartbeats missed):
   ``cache().set_live(False)`` at once, then reconnects with back-off (0.5 s doubling to 15 s).

Heartbeats: :data:`HEARTBEAT_S` = 5 s, checked every second, so a broker that falls silent (a dead host, a network
partition that sends no reset) is noticed within 2 x 5 s + 1 s = 11 s at most, and the cache stops answering.

Not started (the cache stays not live, every page asks the services; logged once at info by the gunicorn master,
:func:`summary`): ``PORTAL_GATEWAY_CACHE=off``, or no RabbitMQ (``PORTAL_AMQP_URL`` unset or not ``amqp://`` /
``amqps://``: the embedded ``make run`` and its file bus, which would need polling to deliver anything).

Metrics: ``portal_gateway_feed_live`` (1 while this process's feed is subscribed, 0 while it is not; one sample per
living process that runs a feed, none where no feed runs)
and ``portal_gateway_feed_events_total{event, outcome}`` (outcome ``applied``, ``undecodable`` or ``failed``).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from urllib.parse import urlsplit

from kombu import Connection
from prometheus_client import Counter, Gauge

from portal_common import logs
from portal_common.bus import Topology, declare_or_verify, gateway_feed_queue_name, load_topology, main_exchange
from portal_common.errors import describe

from . import settings
from .cache import ROUTING_KEYS, cache as process_cache

log = logs.get_logger(__name__)

HEARTBEAT_S = 5
CONNECT_TIMEOUT_S = 5
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 15.0
_TICK_S = 1.0  # how often the loop wakes without deliveries: heartbeats and stop() are checked this often

_live_gauge: Gauge | None = None
_gauge_lock = threading.Lock()


def feed_live_gauge() -> Gauge:
    """``portal_gateway_feed_live``, made on first use: in multiprocess mode a gauge writes its sample file when it
    is made, and the gunicorn master (which imports this module to log :func:`summary`) runs no feed."""
    global _live_gauge
    with _gauge_lock:
        if _live_gauge is None:
            _live_gauge = Gauge("portal_gateway_feed_live",
                                "1 while this gateway process's invalidation feed is subscribed (its cache may answer)",
                                multiprocess_mode="liveall")
        return _live_gauge


FEED_EVENTS = Counter("portal_gateway_feed_events_total", "Events the gateway's invalidation feed received",
                      ["event", "outcome"])
_AMQP_SCHEMES = ("amqp", "amqps")


def broker_url() -> str | None:
    """The feed's broker URL, or ``None`` when no feed runs (see :func:`summary`)."""
    url = settings.feed_url()
    if not url or urlsplit(url).scheme.lower() not in _AMQP_SCHEMES:
        return None
    return url


def summary() -> str:
    """One line for the log: whether and why (not) the processes run a feed."""
    if not settings.cache_enabled():
        return "gateway cache off (PORTAL_GATEWAY_CACHE=off): no invalidation feed, every page asks the services"
    if broker_url() is None:
        return ("gateway cache not live: no RabbitMQ (PORTAL_AMQP_URL is not amqp://), so no invalidation feed; "
                "every page asks the services")
    return "gateway cache: each worker process subscribes its own invalidation feed on RabbitMQ"


class Feed:
    """One subscription (see the module docstring). ``cache`` is anything with ``set_live(bool)`` and
    ``handle_event(event, body)``; ``keys`` the routing keys to bind (default: the cache's)."""

    def __init__(self, url: str, topology: Topology | None = None, cache=None, *, keys=ROUTING_KEYS,
                 heartbeat: float = HEARTBEAT_S, name: str | None = None):
        self.url = url
        self.topology = topology or load_topology()
        self.cache = cache if cache is not None else process_cache()
        self.keys = tuple(keys)
        self.heartbeat = heartbeat
        self.name = name or f"gateway-feed {socket.gethostname()} pid {os.getpid()}"
        self.live = False
        self.connections = 0  # how often it subscribed
        self.failures = 0  # how often a connection failed or was lost
        self.queue: str | None = None  # the current queue's name, while subscribed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> "Feed":
        self._thread = threading.Thread(target=self.run_forever, name="gateway-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_live(False)

    def run_forever(self) -> None:
        delay = FIRST_DELAY_S
        while not self._stop.is_set():
            before = self.connections
            try:
                self._subscribe_and_consume()
            except Exception as exc:  # noqa: BLE001 - any broker trouble: not live (already), reconnect
                self._set_live(False)
                self.failures += 1
                was_subscribed = self.connections > before
                if was_subscribed:
                    delay = FIRST_DELAY_S
                log.warning("gateway_feed_lost" if was_subscribed else "gateway_feed_unavailable",
                            error=describe(exc), retry_in_s=delay)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_DELAY_S)
        self._set_live(False)

    # -------------------------------------------------------------------------------------------------- consuming
    def _connection(self) -> Connection:
        return Connection(self.url, connect_timeout=CONNECT_TIMEOUT_S, heartbeat=self.heartbeat,
                          transport_options={"max_retries": 1,
                                             "client_properties": {"connection_name": self.name}})

    def _subscribe_and_consume(self) -> None:
        conn = self._connection()
        self._conn = conn
        clean = False
        try:
            conn.connect()
            channel = conn.channel()
            # The portal exchange must exist to bind to: portal-gateway may not declare it (the definitions
            # create it) and checks it passively; a user that may (the embedded guest, tests) declares it.
            declare_or_verify(conn, main_exchange(self.topology))
            queue = gateway_feed_queue_name(self.topology)
            channel.queue_declare(queue=queue, durable=False, exclusive=True, auto_delete=True,
                                  arguments={"x-queue-type": "classic"})
            for key in self.keys:
                channel.queue_bind(queue=queue, exchange=self.topology.exchange, routing_key=key)
            channel.basic_consume(queue=queue, no_ack=True, callback=self._on_message)  # waits for consume-ok
            self.queue, self.connections = queue, self.connections + 1
            self._set_live(True)
            log.info("gateway_feed_subscribed", queue=queue, keys=len(self.keys))
            next_heartbeat = 0.0
            while not self._stop.is_set():
                try:
                    conn.drain_events(timeout=_TICK_S)
                except (socket.timeout, TimeoutError):
                    pass
                now = time.monotonic()
                if now >= next_heartbeat:
                    conn.heartbeat_check()  # raises once two heartbeats from the broker are missing
                    next_heartbeat = now + _TICK_S
            clean = True
        finally:
            self.queue, self._conn = None, None
            self._set_live(False)
            try:
                # Stopping: a proper close (the broker deletes the exclusive queue at once). Lost: just drop the
                # socket, a close handshake would wait for an answer from a broker that may never give one.
                conn.release() if clean else conn.collect()
            except Exception:  # noqa: BLE001 - a connection that is already dead
                pass

    def _on_message(self, message) -> None:
        event = (message.delivery_info or {}).get("routing_key", "")
        label = event if event in self.keys else "other"
        try:
            body = json.loads(message.body)
            if not isinstance(body, dict):
                raise ValueError(f"a JSON {type(body).__name__}, not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            FEED_EVENTS.labels(label, "undecodable").inc()
            # the reason's kind only: the body may hold personal data
            log.warning("gateway_feed_undecodable_event", event_type=label, error=type(exc).__name__,
                        size=len(message.body or b""))
            # Whom it was about cannot be read: the cache forgets everything (as for an event without ids), so a
            # garbled account.sessions_ended cannot leave a session standing until its recheck.
            self.cache.handle_event(event, {})
            return
        try:
            self.cache.handle_event(event, body)
        except Exception as exc:  # noqa: BLE001 - the invalidation may be lost: drop everything, stay subscribed
            FEED_EVENTS.labels(label, "failed").inc()
            log.error("gateway_feed_event_failed", event_type=label, error=type(exc).__name__)
            self.cache.set_live(False)
            self.cache.set_live(True)
            return
        FEED_EVENTS.labels(label, "applied").inc()

    def _set_live(self, live: bool) -> None:
        """Tell the cache when the state changes (its set_live drops everything kept, so once is enough)."""
        if live == self.live:
            return
        self.live = live
        feed_live_gauge().set(1 if live else 0)
        self.cache.set_live(live)


# ------------------------------------------------------------------------------------------------- per process
_feed: Feed | None = None
_feed_pid: int | None = None
_lock = threading.Lock()


def start() -> Feed | None:
    """This process's feed, started once per process (a forked child starts its own); ``None`` when no feed runs
    here (:func:`summary` says why)."""
    global _feed, _feed_pid
    with _lock:
        if _feed_pid == os.getpid():
            return _feed
        _feed_pid, _feed = os.getpid(), None
        url = broker_url()
        if url is not None:  # no feed, no gauge: portal_gateway_feed_live 0 means "subscribing", not "turned off"
            feed_live_gauge().set(0)
            _feed = Feed(url).start()
        return _feed


def stop() -> None:
    """Close this process's subscription (its queue goes with it) and make the cache not live."""
    with _lock:
        feed = _feed if _feed_pid == os.getpid() else None
    if feed is not None:
        feed.stop()
