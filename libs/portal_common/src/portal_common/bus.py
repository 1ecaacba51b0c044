"""The bus: one topology, declared by every process, and a publisher with bounded, pipelined confirms.

Transport: RabbitMQ (``PORTAL_AMQP_URL``) or, for the embedded run, kombu's filesystem transport. The filesystem
transport keeps exchange bindings in a shared control folder, so a binding declared by one process routes messages
published by another (kombu's SQLAlchemy transport keeps them in process memory and silently drops messages).

Why not ``kombu.Producer(confirm_publish=True)``: it waits for each confirm in turn (~15x slower on a 2-core
machine) and ignores ``mandatory`` returns, so an unroutable message would count as delivered.
See https://www.rabbitmq.com/docs/confirms. The file bus has neither confirms nor returns and drops a message no
queue is bound for: the publisher looks its route up first and reports it unroutable, as on RabbitMQ.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import amqp
from kombu import Connection, Exchange, Queue, binding

from . import config
from .compat import FileBusTransport, coalesced_writes, is_amqp, virtual_route


class PublishError(RuntimeError):
    """The broker did not confirm a message (nack, unroutable, timeout or lost connection)."""


class PublishFailure(str):
    """Why one message of a batch was not delivered: the text, and a fixed ``kind`` for metric labels."""

    kind: str

    def __new__(cls, text: str, kind: str) -> "PublishFailure":
        failure = super().__new__(cls, text)
        failure.kind = kind
        return failure


# --------------------------------------------------------------------------------------------------------- topology
@dataclass(frozen=True)
class ServiceQueues:
    service: str
    queue: str
    dead_letter_queue: str
    bindings: tuple[str, ...]
    requeue_exchange: str = ""
    retry_queues: tuple[str, ...] = ()
    retry_delays: tuple[float, ...] = ()  # seconds, one per retry queue (the queue's message TTL)

    @property
    def dead_letter_exchange(self) -> str:
        """Where the service's consumer publishes its dead letters: a fanout exchange named like the queue."""
        return self.dead_letter_queue


@dataclass(frozen=True)
class Topology:
    exchange: str
    dead_letter_exchange: str
    delivery_limit: int
    services: dict[str, ServiceQueues] = field(default_factory=dict)
    prefix: str = ""  # the namespace's prefix of every name ("<ns>." or nothing)

    def for_service(self, service: str) -> ServiceQueues:
        try:
            return self.services[service]
        except KeyError:
            raise config.ConfigError(f"service {service!r} has no queues in contracts/topology.json") from None


def load_topology(path: Path | None = None, namespace: str | None = None,
                  retry_delays: tuple[float, ...] | None = None) -> Topology:
    """Read ``contracts/topology.json``.

    ``namespace`` (default ``PORTAL_BUS_NAMESPACE``) prefixes every exchange and queue name, so several portals or
    test runs can share one RabbitMQ vhost without seeing each other's messages. ``retry_delays`` (seconds; default
    ``PORTAL_RETRY_DELAYS`` as ``5,30,300``, else the file's ``retry_delays_seconds``) are the retry tiers' message
    TTLs: a broker keeps a queue's TTL from its first declaration, so changing them means deleting the
    ``<service>.retry.<n>`` queues first (tests use their own namespace).
    """
    raw = json.loads((path or config.contracts_dir() / "topology.json").read_text())
    ns = config.env("PORTAL_BUS_NAMESPACE", "") if namespace is None else namespace
    p = f"{ns}." if ns else ""
    if retry_delays is None:
        from_env = config.env("PORTAL_RETRY_DELAYS", "")
        retry_delays = (tuple(float(x) for x in from_env.split(",") if x.strip()) if from_env
                        else tuple(float(x) for x in raw.get("retry_delays_seconds", ())))
    services = {}
    for name, spec in raw["services"].items():
        prefix = spec.get("retry_queue_prefix", f"{name}.retry")
        services[name] = ServiceQueues(
            name, p + spec["queue"], p + spec["dead_letter_queue"], tuple(spec["bindings"]),
            requeue_exchange=p + spec.get("requeue_exchange", f"{name}.requeue"),
            retry_queues=tuple(f"{p}{prefix}.{n}" for n in range(len(retry_delays))),
            retry_delays=tuple(retry_delays))
    return Topology(p + raw["exchange"], p + raw["dead_letter_exchange"], int(raw["delivery_limit"]), services,
                    prefix=p)


#: A gateway process's own queue for the invalidation feed (gateway.feed): ``<ns>.gateway.feed.<32 hex digits>``,
#: exclusive and auto-deleted, so it lives exactly as long as the process's connection. The broker user
#: ``portal-gateway`` may configure only names of this shape (portal_common.broker_users).
GATEWAY_FEED_QUEUE = "gateway.feed."


def gateway_feed_queue_name(topology: Topology) -> str:
    return f"{topology.prefix}{GATEWAY_FEED_QUEUE}{uuid.uuid4().hex}"


def main_exchange(topology: Topology) -> Exchange:
    return Exchange(topology.exchange, "topic", durable=True)


def dead_letter_exchange(topology: Topology) -> Exchange:
    """``portal.dlx``: the broker's own dead-lettering (a work queue's delivery limit), routing key = the service.
    No service user may publish here (a direct exchange, where topic permissions do not apply: one service could
    drop a forged event into another's dead letters for an operator to replay)."""
    return Exchange(topology.dead_letter_exchange, "direct", durable=True)


def service_dead_letter_exchange(topology: Topology, service: str) -> Exchange:
    """``<service>.dead``: where the service's consumer publishes its dead letters (with their reason headers), a
    fanout exchange named like the dead-letter queue, as the retry tiers are. Its name matches the service's own
    permission pattern and no other's, so a service can dead-letter into its own queue only."""
    return Exchange(topology.for_service(service).dead_letter_exchange, "fanout", durable=True)


def retry_exchange(topology: Topology, service: str, tier: int) -> Exchange:
    """Where a failed message is parked for a while: a fanout exchange per tier, named like its queue
    (``<service>.retry.<n>``). Fanout keeps the event's routing key on the message, which the tier's dead-lettering
    then routes back with; one exchange per tier (not one shared one) means a service's broker user can park
    messages only in its own tiers, never smuggle an event into another service's queue."""
    return Exchange(topology.for_service(service).retry_queues[tier], "fanout", durable=True)


def requeue_exchange(topology: Topology, service: str) -> Exchange:
    """``<service>.requeue``: everything published here (an expired retry, an operator's replay) goes back into the
    service's work queue with its own routing key."""
    return Exchange(topology.for_service(service).requeue_exchange, "topic", durable=True)


def service_queues(topology: Topology, service: str, amqp_broker: bool) -> tuple[Queue, Queue]:
    """The service's event queue and its dead-letter queue, as kombu declarations."""
    sq = topology.for_service(service)
    exchange, dlx = main_exchange(topology), dead_letter_exchange(topology)
    arguments = {}
    if amqp_broker:
        # Quorum queues on RabbitMQ 3.10 have no default delivery limit: without one a message that crashes the
        # worker is redelivered forever. https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling
        arguments = {
            "x-queue-type": "quorum",
            "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": service,
        }
    queue = Queue(
        sq.queue,
        exchange=exchange,
        bindings=[binding(exchange, routing_key=key) for key in sq.bindings]
        + [binding(requeue_exchange(topology, service), routing_key="#")],
        durable=True,
        queue_arguments=arguments or None,
    )
    # Two ways in: the consumer's own dead letters (<service>.dead) and the broker's (portal.dlx, key = service)
    dead = Queue(sq.dead_letter_queue, durable=True,
                 bindings=[binding(service_dead_letter_exchange(topology, service), routing_key=""),
                           binding(dlx, routing_key=service)],
                 queue_arguments={"x-queue-type": "quorum"} if amqp_broker else None)
    return queue, dead


def retry_queue_arguments(topology: Topology, service: str, tier: int) -> dict:
    """A retry tier on RabbitMQ: its messages expire after the tier's delay and are dead-lettered (at least once)
    into the service's requeue exchange with their own routing key."""
    sq = topology.for_service(service)
    return {"x-queue-type": "quorum", "x-message-ttl": int(sq.retry_delays[tier] * 1000),
            "x-dead-letter-exchange": sq.requeue_exchange, "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish"}


def retry_queues(topology: Topology, service: str, amqp_broker: bool) -> list[Queue]:
    """The service's retry tiers. On the file bus (no TTL, no dead-lettering) they are plain queues that the
    worker's :class:`~portal_common.compat.FileBusRetryPump` empties when a message is due."""
    sq = topology.for_service(service)
    return [Queue(name, exchange=retry_exchange(topology, service, tier), routing_key="", durable=True,
                  queue_arguments=retry_queue_arguments(topology, service, tier) if amqp_broker else None)
            for tier, name in enumerate(sq.retry_queues)]


def declare_topology(conn: Connection, topology: Topology) -> None:
    """Declare every exchange, queue and binding of the portal (idempotent).

    Every process declares the whole topology, not just its own queues: a publisher then never sends into an
    exchange whose queues do not exist yet, which RabbitMQ would confirm as success and drop.

    With the per-service broker users of deploy/rabbitmq (issue 8) a process may configure only its own queues: what
    it may not declare it checks passively (it must exist: the broker's definitions create it), so a service can
    neither delete nor re-shape another's queues, nor bind its queue to keys it does not consume.
    """
    amqp_broker = is_amqp(conn)
    entities = [main_exchange(topology), dead_letter_exchange(topology)]
    for service in topology.services:
        # checked on its own: a queue's bindings are not, and a consumer must never dead-letter into nothing
        entities.append(service_dead_letter_exchange(topology, service))
        entities.append(requeue_exchange(topology, service))
        entities.extend(service_queues(topology, service, amqp_broker))
        entities.extend(retry_queues(topology, service, amqp_broker))
    for entity in entities:
        declare_or_verify(conn, entity)


def declare_or_verify(conn: Connection, entity) -> None:
    """Declare ``entity`` (an exchange or a queue with its bindings) if this broker user may, else check passively
    that it exists (ConfigError when it does not)."""
    from amqp.exceptions import AccessRefused, NotFound

    channel = conn.channel()
    try:
        entity(channel).declare()
        return
    except AccessRefused:
        pass  # not ours to declare (or to bind): it must already exist
    finally:
        close_quietly(channel)
    channel = conn.channel()
    try:
        bound = entity(channel)
        if isinstance(bound, Queue):
            bound.queue_declare(passive=True)
        else:
            bound.declare(passive=True)
    except NotFound as exc:
        raise config.ConfigError(f"{entity.name} does not exist on the broker and this user may not create it: "
                                 "load deploy/rabbitmq/definitions.json (make definitions)") from exc
    finally:
        close_quietly(channel)


def close_quietly(channel) -> None:
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - a channel the broker already closed
        pass


def delete_topology(conn: Connection, topology: Topology) -> None:
    """Remove a (namespaced) topology: used by tests to clean up after themselves."""
    channel = conn.channel()
    try:
        for sq in topology.services.values():
            for name in (sq.queue, sq.dead_letter_queue, *sq.retry_queues):
                try:
                    channel.queue_delete(name)
                except Exception:  # noqa: BLE001 - cleanup is best effort
                    pass
        names = [topology.exchange, topology.dead_letter_exchange,
                 *(sq.requeue_exchange for sq in topology.services.values()),
                 *(sq.dead_letter_exchange for sq in topology.services.values()),
                 *(name for sq in topology.services.values() for name in sq.retry_queues)]
        for name in names:
            try:
                channel.exchange_delete(name)
            except Exception:  # noqa: BLE001
                pass
    finally:
        channel.close()


def export_definitions(topology: Topology, vhost: str = "/") -> dict:
    """The topology as RabbitMQ definitions (``rabbitmqctl import_definitions`` / ``load_definitions``)."""
    def exchange(name, kind):
        return {"name": name, "vhost": vhost, "type": kind, "durable": True, "auto_delete": False,
                "internal": False, "arguments": {}}

    def bind(source, queue, key, arguments=None):
        return {"source": source, "vhost": vhost, "destination": queue, "destination_type": "queue",
                "routing_key": key, "arguments": arguments or {}}

    exchanges = [exchange(topology.exchange, "topic"), exchange(topology.dead_letter_exchange, "direct")]
    queues, bindings = [], []
    for service, sq in topology.services.items():
        exchanges.append(exchange(sq.requeue_exchange, "topic"))
        queues.append({"name": sq.queue, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {
            "x-queue-type": "quorum", "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter_exchange, "x-dead-letter-routing-key": service}})
        queues.append({"name": sq.dead_letter_queue, "vhost": vhost, "durable": True, "auto_delete": False,
                       "arguments": {"x-queue-type": "quorum"}})
        for tier, name in enumerate(sq.retry_queues):
            queues.append({"name": name, "vhost": vhost, "durable": True, "auto_delete": False,
                           "arguments": retry_queue_arguments(topology, service, tier)})
            exchanges.append(exchange(name, "fanout"))
            bindings.append(bind(name, name, ""))
        for key in sq.bindings:
            bindings.append(bind(topology.exchange, sq.queue, key))
        bindings.append(bind(sq.requeue_exchange, sq.queue, "#"))
        bindings.append(bind(topology.dead_letter_exchange, sq.dead_letter_queue, service))
        exchanges.append(exchange(sq.dead_letter_exchange, "fanout"))
        bindings.append(bind(sq.dead_letter_exchange, sq.dead_letter_queue, ""))
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


# ------------------------------------------------------------------------------------------------------- connection
def connect(url: str | None = None) -> Connection:
    """A kombu connection with bounded timeouts: RabbitMQ when configured, the shared file bus otherwise."""
    url = url if url is not None else config.amqp_url()
    if url:
        return Connection(url, connect_timeout=5, heartbeat=30, transport_options={"max_retries": 3})
    root = config.var_dir() / "bus"
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "control").mkdir(parents=True, exist_ok=True)
    return Connection(
        "filesystem://",
        transport=FileBusTransport,
        transport_options={
            "data_folder_in": str(root / "data"),
            "data_folder_out": str(root / "data"),
            "control_folder": str(root / "control"),
            "store_processed": False,
            "polling_interval": 0.05,
        },
    )


# -------------------------------------------------------------------------------------------------------- publishing
@dataclass
class OutgoingMessage:
    """One message as it goes on the wire. ``body`` is the event payload, already JSON-encoded."""

    message_id: str
    routing_key: str
    body: bytes
    headers: dict
    exchange: str | None = None  # default: the topology's main exchange
    type: str | None = None
    content_type: str | None = None  # default application/json (a dead letter keeps its original one)

    @classmethod
    def for_event(cls, event_id: str, name: str, payload: dict | str, *, version: int = 1, occurred_at: str,
                  correlation_id: str | None) -> "OutgoingMessage":
        """``payload`` is the event object, or its JSON text as stored in an outbox row (sent as is)."""
        headers = {"event": name, "version": version, "occurred_at": occurred_at,
                   "correlation_id": correlation_id or event_id}
        if isinstance(payload, str):
            body = payload.encode()
        else:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(event_id, name, body, headers, type=name)


class Publisher:
    """Publishes batches with publisher confirms, pipelined: send the whole batch, then wait for the confirms.

    ``publish_batch`` returns ``{message_id: None | error}``; a message is delivered only when the broker confirmed
    it *and* did not return it as unroutable. Waiting is bounded by ``confirm_timeout``. On the file bus a message
    no queue is bound for is not published and comes back as the same ``unroutable`` failure.
    """

    def __init__(self, topology: Topology, url: str | None = None, confirm_timeout: float = 10.0):
        self.topology = topology
        self.url = url if url is not None else config.amqp_url()
        self.confirm_timeout = confirm_timeout
        self._conn: Connection | None = None
        self._channel = None
        self._seq = 0
        self._pending: dict[int, str] = {}
        self._results: dict[str, str | None] = {}
        self._returned: dict[str, str] = {}

    # -- connection management
    def _ensure(self):
        if self._conn is not None:
            return
        conn = connect(self.url)
        conn.connect()
        declare_topology(conn, self.topology)
        self._conn = conn
        if is_amqp(conn):
            channel = conn.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._channel, self._seq = channel, 0
        else:
            self._channel = conn.channel()

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - the connection is being thrown away
                pass

    # -- confirm bookkeeping
    def _settle(self, tag: int, multiple: bool, error: str | None) -> None:
        tags = [t for t in self._pending if t <= tag] if multiple else [tag]
        for t in tags:
            message_id = self._pending.pop(t, None)
            if message_id is not None:
                self._results[message_id] = self._returned.pop(message_id, None) or error

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, None)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, PublishFailure("nacked by the broker", "nacked"))

    def _on_return(self, exc, exchange, routing_key, message):
        message_id = message.properties.get("message_id")
        self._returned[message_id] = _unroutable(exchange, routing_key)

    # -- publishing
    def publish_batch(self, messages: Iterable[OutgoingMessage]) -> dict[str, str | None]:
        messages = list(messages)
        if not messages:
            return {}
        try:
            self._ensure()
            if is_amqp(self._conn):
                return self._publish_amqp(messages)
            return self._publish_virtual(messages)
        except PublishError:
            self.close()
            raise
        except Exception as exc:  # connection refused, reset, channel closed …
            self.close()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc

    def _publish_amqp(self, messages):
        self._pending.clear()
        self._results.clear()
        self._returned.clear()
        exchange_default = self.topology.exchange
        with coalesced_writes(self._conn.connection.transport):
            for m in messages:
                self._seq += 1
                self._pending[self._seq] = m.message_id
                self._channel.basic_publish(
                    amqp.Message(m.body, content_type=m.content_type or "application/json", content_encoding="utf-8",
                                 delivery_mode=2, message_id=m.message_id, type=m.type or m.routing_key,
                                 application_headers=m.headers),
                    exchange=m.exchange if m.exchange is not None else exchange_default,
                    routing_key=m.routing_key,
                    mandatory=True,
                )
        deadline = time.monotonic() + self.confirm_timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishError(f"no confirm within {self.confirm_timeout}s for {len(self._pending)} messages")
            try:
                self._conn.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        return dict(self._results)

    def _publish_virtual(self, messages):
        """kombu's virtual transports neither confirm nor return: a message no binding takes would vanish and count
        as delivered. So each route is looked up first (once per batch), and an unroutable message is not published
        but reported as RabbitMQ reports it to a ``mandatory`` publish."""
        from kombu import Producer

        producer = Producer(self._channel)
        routable: dict[tuple[str, str], bool] = {}
        results: dict[str, str | None] = {}
        for m in messages:
            exchange = m.exchange if m.exchange is not None else self.topology.exchange
            route = (exchange, m.routing_key)
            if route not in routable:
                routable[route] = bool(virtual_route(self._channel, exchange, m.routing_key))
            if not routable[route]:
                results[m.message_id] = _unroutable(exchange, m.routing_key)
                continue
            producer.publish(
                m.body, exchange=exchange,
                routing_key=m.routing_key, content_type=m.content_type or "application/json", content_encoding="utf-8",
                delivery_mode=2, message_id=m.message_id, type=m.type or m.routing_key, headers=m.headers,
                serializer=None, retry=False,
            )
            results[m.message_id] = None
        return results


def _unroutable(exchange: str, routing_key: str) -> PublishFailure:
    return PublishFailure(f"unroutable: no queue bound to {exchange!r} with key {routing_key!r}", "unroutable")
