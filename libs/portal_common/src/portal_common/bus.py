"""The bus: one topology, declared by every process, and a publisher with bounded, pipelined confirms.

Transport: RabbitMQ (``PORTAL_AMQP_URL``) or, for the embedded run, kombu's filesystem transport. The filesystem
transport keeps exchange bindings in a shared control folder, so a binding declared by one process routes messages
published by another (kombu's SQLAlchemy transport keeps them in process memory and silently drops messages).

Why not ``kombu.Producer(confirm_publish=True)``: it waits for each confirm in turn (~15x slower on a 2-core
machine) and ignores ``mandatory`` returns, so an unroutable message would count as delivered.
See https://www.rabbitmq.com/docs/confirms.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import amqp
from kombu import Connection, Exchange, Queue, binding
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json as kombu_json
from kombu.utils.encoding import str_to_bytes

from . import config


class PublishError(RuntimeError):
    """The broker did not confirm a message (nack, unroutable, timeout or lost connection)."""


# --------------------------------------------------------------------------------------------------------- topology
@dataclass(frozen=True)
class ServiceQueues:
    service: str
    queue: str
    dead_letter_queue: str
    bindings: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    exchange: str
    dead_letter_exchange: str
    delivery_limit: int
    services: dict[str, ServiceQueues] = field(default_factory=dict)

    def for_service(self, service: str) -> ServiceQueues:
        try:
            return self.services[service]
        except KeyError:
            raise config.ConfigError(f"service {service!r} has no queues in contracts/topology.json") from None


def load_topology(path: Path | None = None, namespace: str | None = None) -> Topology:
    """Read ``contracts/topology.json``.

    ``namespace`` (default ``PORTAL_BUS_NAMESPACE``) prefixes every exchange and queue name, so several portals or
    test runs can share one RabbitMQ vhost without seeing each other's messages.
    """
    raw = json.loads((path or config.contracts_dir() / "topology.json").read_text())
    ns = config.env("PORTAL_BUS_NAMESPACE", "") if namespace is None else namespace
    p = f"{ns}." if ns else ""
    services = {
        name: ServiceQueues(name, p + spec["queue"], p + spec["dead_letter_queue"], tuple(spec["bindings"]))
        for name, spec in raw["services"].items()
    }
    return Topology(p + raw["exchange"], p + raw["dead_letter_exchange"], int(raw["delivery_limit"]), services)


def is_amqp(conn: Connection) -> bool:
    return conn.transport_cls in ("amqp", "pyamqp", "amqps") or conn.transport.driver_type == "amqp"


def main_exchange(topology: Topology) -> Exchange:
    return Exchange(topology.exchange, "topic", durable=True)


def dead_letter_exchange(topology: Topology) -> Exchange:
    return Exchange(topology.dead_letter_exchange, "direct", durable=True)


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
        bindings=[binding(exchange, routing_key=key) for key in sq.bindings],
        durable=True,
        queue_arguments=arguments or None,
    )
    dead = Queue(sq.dead_letter_queue, exchange=dlx, routing_key=service, durable=True,
                 queue_arguments={"x-queue-type": "quorum"} if amqp_broker else None)
    return queue, dead


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
        entities.extend(service_queues(topology, service, amqp_broker))
    for entity in entities:
        _declare_or_verify(conn, entity)


def _declare_or_verify(conn: Connection, entity) -> None:
    from amqp.exceptions import AccessRefused, NotFound

    channel = conn.channel()
    try:
        entity(channel).declare()
        return
    except AccessRefused:
        pass  # not ours to declare (or to bind): it must already exist
    finally:
        _close_quietly(channel)
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
        _close_quietly(channel)


def _close_quietly(channel) -> None:
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - a channel the broker already closed
        pass


def delete_topology(conn: Connection, topology: Topology) -> None:
    """Remove a (namespaced) topology: used by tests to clean up after themselves."""
    channel = conn.channel()
    try:
        for sq in topology.services.values():
            for name in (sq.queue, sq.dead_letter_queue):
                try:
                    channel.queue_delete(name)
                except Exception:  # noqa: BLE001 - cleanup is best effort
                    pass
        for name in (topology.exchange, topology.dead_letter_exchange):
            try:
                channel.exchange_delete(name)
            except Exception:  # noqa: BLE001
                pass
    finally:
        channel.close()


def export_definitions(topology: Topology, vhost: str = "/") -> dict:
    """The topology as RabbitMQ definitions (``rabbitmqctl import_definitions`` / ``load_definitions``)."""
    exchanges = [
        {"name": topology.exchange, "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
         "internal": False, "arguments": {}},
        {"name": topology.dead_letter_exchange, "vhost": vhost, "type": "direct", "durable": True,
         "auto_delete": False, "internal": False, "arguments": {}},
    ]
    queues, bindings = [], []
    for service, sq in topology.services.items():
        queues.append({"name": sq.queue, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {
            "x-queue-type": "quorum", "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter_exchange, "x-dead-letter-routing-key": service}})
        queues.append({"name": sq.dead_letter_queue, "vhost": vhost, "durable": True, "auto_delete": False,
                       "arguments": {"x-queue-type": "quorum"}})
        for key in sq.bindings:
            bindings.append({"source": topology.exchange, "vhost": vhost, "destination": sq.queue,
                             "destination_type": "queue", "routing_key": key, "arguments": {}})
        bindings.append({"source": topology.dead_letter_exchange, "vhost": vhost, "destination": sq.dead_letter_queue,
                         "destination_type": "queue", "routing_key": service, "arguments": {}})
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


# ------------------------------------------------------------------------------------------------------- connection
class _FileBusChannel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Write the message aside, then rename it into place (atomic on POSIX).

        kombu creates the message file, then locks and writes it; a consumer polling in between takes the still
        empty file, fails to decode it and the message is lost (about 1 in 3,000 under load). The temporary name
        does not end in ``.<queue>.msg``, so no consumer picks it up half written.
        """
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        tmp = os.path.join(self.data_folder_out, f"{uuid.uuid4().hex}.partial")
        try:
            with open(tmp, "wb") as f:
                f.write(str_to_bytes(kombu_json.dumps(payload)))  # as kombu writes it
            os.replace(tmp, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class _FileBusTransport(filesystem.Transport):
    Channel = _FileBusChannel


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
        transport=_FileBusTransport,
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


class _coalesced_writes:
    """Send a whole batch's frames with one ``sendall`` instead of one system call per frame.

    py-amqp writes every frame straight to the socket through ``transport._write``; while publishing a batch we
    collect the bytes (copied: py-amqp reuses its frame buffer) and write them at once on exit.
    """

    def __init__(self, transport):
        self.transport = transport
        self.chunks: list[bytes] = []

    def __enter__(self):
        self.original = self.transport._write
        self.transport._write = lambda data: self.chunks.append(bytes(data))
        return self

    def __exit__(self, *exc):
        self.transport._write = self.original
        if self.chunks:
            self.transport.write(b"".join(self.chunks))
        return False


class Publisher:
    """Publishes batches with publisher confirms, pipelined: send the whole batch, then wait for the confirms.

    ``publish_batch`` returns ``{message_id: None | error}``; a message is delivered only when the broker confirmed
    it *and* did not return it as unroutable. Waiting is bounded by ``confirm_timeout``.
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
        self._settle(delivery_tag, multiple, "nacked by the broker")

    def _on_return(self, exc, exchange, routing_key, message):
        message_id = message.properties.get("message_id")
        self._returned[message_id] = f"unroutable: no queue bound to {exchange!r} with key {routing_key!r}"

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
        with _coalesced_writes(self._conn.connection.transport):
            for m in messages:
                self._seq += 1
                self._pending[self._seq] = m.message_id
                self._channel.basic_publish(
                    amqp.Message(m.body, content_type="application/json", content_encoding="utf-8",
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
        from kombu import Producer

        producer = Producer(self._channel)
        for m in messages:
            producer.publish(
                m.body, exchange=m.exchange if m.exchange is not None else self.topology.exchange,
                routing_key=m.routing_key, content_type="application/json", content_encoding="utf-8",
                delivery_mode=2, message_id=m.message_id, type=m.type or m.routing_key, headers=m.headers,
                serializer=None, retry=False,
            )
        return {m.message_id: None for m in messages}
