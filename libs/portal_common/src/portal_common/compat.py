"""Everything that depends on a library's *internals* or on which transport runs the bus, in one place.

Pinned (libs/portal_common/pyproject.toml): ``kombu>=5.3,<5.8`` and ``amqp>=5.1,<5.5``. ``tests/test_compat.py``
fails loudly when an internal used here changes shape, so an upgrade is noticed in CI, not in production:

- :class:`coalesced_writes` replaces py-amqp's private ``transport._write`` while a batch is published (one
  ``sendall`` per batch instead of one system call per frame: ~2x relay throughput, ``make bench-bus``).
- :func:`read_ahead` replaces a plain-TCP py-amqp transport's ``read_frame`` for a consumer: frames are cut from a
  read-ahead buffer (one ``recv`` per many deliveries) instead of three ``recv`` calls per frame, nine per message.
- :func:`ack_batch`: one ``basic.ack`` with ``multiple`` for a whole batch on RabbitMQ; the file bus acks each.
- :class:`FileBusTransport` overrides kombu's filesystem ``Channel._put`` (write aside, then rename: kombu's own
  writer lets a polling consumer take a half-written file and lose the message).
- :func:`virtual_route`: the queues kombu's virtual transports would put a message into (their binding table, matched
  by the exchange's type), so the file bus can report an unroutable message as RabbitMQ does instead of dropping it.
- :func:`is_amqp`, and the file bus's stand-in for RabbitMQ's delayed retries: no message TTL and no dead-letter
  exchange there, so a retry tier is a plain queue and :class:`FileBusRetryPump` (run by the worker's own loop)
  moves a parked message back into the work queue when its delay has passed.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from struct import unpack_from

import amqp.transport
from amqp.exceptions import UnexpectedFrame

from kombu import Connection, Producer
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json as kombu_json
from kombu.utils.encoding import str_to_bytes

from . import logs
from .retry import DUE_AT

log = logs.get_logger(__name__)



def is_amqp(conn: Connection) -> bool:
    return conn.transport_cls in ("amqp", "pyamqp", "amqps") or conn.transport.driver_type == "amqp"


# --------------------------------------------------------------------------------------------------- py-amqp
class coalesced_writes:
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


READ_AHEAD = 256 * 1024


def read_ahead(conn: Connection) -> bool:
    """Read the connection's frames through a read-ahead buffer; True if installed (plain TCP py-amqp only).

    py-amqp's ``TCPTransport.read_frame`` asks the socket for exactly the bytes it needs: the 7-byte header, the
    payload, the end octet — three ``recv`` system calls per frame and three frames per delivery. This version asks
    for up to 256 KiB at once and cuts whole frames out of the buffer. It consumes nothing until a whole frame is
    there, so a timeout in the middle of a frame loses nothing (py-amqp's own version puts the parts back). Only the
    connection's reader thread calls ``read_frame`` (``drain_events``), as with py-amqp's version.
    """
    transport = conn.connection.transport
    if type(transport) is not amqp.transport.TCPTransport or transport.sock is None:
        return False
    sock = transport.sock
    buf = bytearray(transport._read_buffer)  # what py-amqp had already read (normally nothing)
    transport._read_buffer = amqp.transport.EMPTY_BUFFER
    pos = 0

    def fill(need: int) -> None:
        nonlocal buf, pos
        if pos and (pos == len(buf) or pos > READ_AHEAD):
            del buf[:pos]
            pos = 0
        while len(buf) - pos < need:
            try:
                data = sock.recv(max(READ_AHEAD, need - (len(buf) - pos)))
            except socket.timeout:
                raise
            except OSError as exc:
                if exc.errno not in amqp.transport._UNAVAIL:
                    transport.connected = False
                raise
            if not data:
                transport.connected = False
                raise OSError("Server unexpectedly closed connection")
            buf += data

    def read_frame(unpack=None):
        nonlocal pos
        fill(7)
        frame_type, channel, size = unpack_from(">BHI", buf, pos)
        fill(8 + size)
        start, end = pos + 7, pos + 7 + size
        if buf[end] != 206:
            transport.connected = False
            raise UnexpectedFrame(f"Received frame_end {buf[end]:#04x} while expecting 0xce")
        pos = end + 1
        return frame_type, channel, bytes(buf[start:end])

    transport.read_frame = read_frame
    return True


def ack_batch(messages: list, amqp_broker: bool) -> None:
    """Ack every delivery of a batch received on one channel (every earlier delivery of the channel is settled).

    RabbitMQ: one ``basic.ack`` with ``multiple`` for the highest delivery tag instead of one frame per message
    (the broker settles them all at once). kombu's virtual transports ignore ``multiple``: ack each there."""
    if not messages:
        return
    if amqp_broker:
        max(messages, key=lambda m: m.delivery_tag).ack(multiple=True)
        return
    for m in messages:
        m.ack()


# --------------------------------------------------------------------------------------------- kombu file bus
_last_stamp = 0
_stamp_lock = threading.Lock()


def _fifo_stamp() -> str:
    """The start of a message file's name: consumers take the files in name order, so names must sort in the order
    the messages were put. kombu's own names (the monotonic clock in milliseconds, then a random uuid) do not: two
    messages of one millisecond come out in random order, and once the millisecond count gains a digit (10,000,000
    ms: 2 h 47 min after boot, then 27 h 47 min) every new name sorts before every older one. Nanoseconds, never
    the same twice in this process, zero-padded to one width."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.monotonic_ns(), _last_stamp + 1)
        return f"{_last_stamp:020d}"


class _FileBusChannel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Write the message aside, then rename it into place (atomic on POSIX), under a name that keeps FIFO order.

        kombu creates the message file, then locks and writes it; a consumer polling in between takes the still
        empty file, fails to decode it and the message is lost (about 1 in 3,000 under load). The temporary name
        does not end in ``.<queue>.msg``, so no consumer picks it up half written.
        """
        name = f"{_fifo_stamp()}_{uuid.uuid4()}.{queue}.msg"
        tmp = os.path.join(self.data_folder_out, f"{uuid.uuid4().hex}.partial")
        try:
            with open(tmp, "wb") as f:
                f.write(str_to_bytes(kombu_json.dumps(payload)))  # as kombu writes it
            os.replace(tmp, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class FileBusTransport(filesystem.Transport):
    Channel = _FileBusChannel


def virtual_route(channel, exchange: str, routing_key: str) -> set[str]:
    """The queues a kombu virtual channel (the file bus, ``memory://``) would put a message into; empty: none.

    kombu's own delivery looks the route up the same way — the exchange's binding table (on the file bus the shared
    control folder's, so a binding another process declared counts) matched by the exchange's type, which this
    process must have declared — and puts a message that matches nothing nowhere, without a word (or into its
    ``deadletter_queue`` transport option, with a warning). RabbitMQ returns such a message to a ``mandatory``
    publisher as unroutable: asking first lets the file bus do the same.
    """
    if not exchange:  # the default exchange: kombu puts the message into the queue the routing key names
        return {routing_key} if routing_key else set()
    try:
        queues = channel.typeof(exchange).lookup(channel.get_table(exchange), exchange, routing_key, None)
    except KeyError:  # an exchange nobody declared (memory://; the file bus's table is then empty)
        return set()
    return {q for q in queues if q and q != channel.deadletter_queue}


# ---------------------------------------------------------------------------------------------- retry routing
def park_headers(headers: dict, delay: float, *, amqp_broker: bool) -> dict:
    """The headers of a message parked in a retry tier. RabbitMQ expires it by the tier's TTL; the file bus has no
    TTL, so the due time travels with the message for :class:`FileBusRetryPump`."""
    return dict(headers) if amqp_broker else {**headers, DUE_AT: time.time() + delay}


class FileBusRetryPump:
    """Moves parked messages whose delay has passed from the service's tiers back into its work queue.

    Each tier is FIFO with one delay, so only its head needs watching: the head is held unacked until due (a
    worker that stops leaves it unacked, and kombu puts it back), then published to ``<service>.requeue`` with its
    own routing key and acked.
    """

    def __init__(self, conn: Connection, topology, service: str, interval: float = 0.25):
        self.channel = conn.channel()
        self.producer = Producer(self.channel)
        self.sq = topology.for_service(service)
        self.interval = interval
        self.held: dict[str, object] = {}
        self._next = 0.0

    def pump(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        for queue in self.sq.retry_queues:
            while True:
                message = self.held.pop(queue, None) or self.channel.basic_get(queue, no_ack=False)
                if message is None:
                    break
                message = self.channel.message_to_python(message) if isinstance(message, dict) else message
                headers = dict(message.headers or {})
                if float(headers.get(DUE_AT) or 0) > time.time():
                    self.held[queue] = message
                    break
                event = (message.delivery_info or {}).get("routing_key", "")
                headers.pop(DUE_AT, None)
                props = message.properties or {}
                self.producer.publish(
                    message.body, exchange=self.sq.requeue_exchange, routing_key=event,
                    content_type=message.content_type or "application/json", content_encoding="utf-8",
                    delivery_mode=2, message_id=props.get("message_id"), type=props.get("type"), headers=headers,
                    serializer=None, retry=False)
                message.ack()
