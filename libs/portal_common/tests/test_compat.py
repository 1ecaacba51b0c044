"""The library internals portal_common.compat relies on are still there: an upgrade that changes them fails here,
loudly, instead of silently losing messages or throughput in production."""
from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import amqp.transport
import pytest
from kombu.transport import filesystem
from kombu.transport.virtual import base as virtual
from packaging.requirements import Requirement

from portal_common import compat

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@pytest.mark.parametrize("package", ["kombu", "amqp"])
def test_the_installed_version_is_inside_the_pinned_range(package):
    """compat.py was written against these ranges; moving the pin means re-reading the internals below."""
    line = re.search(rf'"({package}[<>=!~][^"]*)"', PYPROJECT.read_text()).group(1)
    requirement = Requirement(line)
    assert requirement.specifier, f"{package} has no upper bound in {PYPROJECT}"
    assert any(s.operator == "<" for s in requirement.specifier), f"{package}: pin an upper bound"
    assert version(package) in requirement.specifier


def test_py_amqp_still_writes_every_frame_through_transport_write():
    """coalesced_writes swaps ``transport._write`` for a collector and sends the batch with ``transport.write``."""
    from amqp import method_framing

    assert "self._write(" in inspect.getsource(amqp.transport._AbstractTransport.write)  # looked up per call
    assert "self._write = self.sock.sendall" in inspect.getsource(amqp.transport.TCPTransport._setup_transport)
    assert "write = transport.write" in inspect.getsource(method_framing.frame_writer)  # frames go through it


def test_kombu_filesystem_channel_still_puts_messages_through_put_with_these_folders():
    assert list(inspect.signature(filesystem.Channel._put).parameters)[:3] == ["self", "queue", "payload"]
    assert {"data_folder_out", "data_folder_in"} <= set(dir(filesystem.Channel))
    assert compat.FileBusTransport.Channel.__mro__[1] is filesystem.Channel
    source = inspect.getsource(filesystem.Channel._get)
    assert "sorted(" in source and ".msg" in source  # FIFO by file name, as compat's names rely on


def test_kombu_virtual_channel_still_offers_basic_get_for_the_retry_pump():
    assert list(inspect.signature(virtual.Channel.basic_get).parameters)[:3] == ["self", "queue", "no_ack"]
    # The file bus has no headers exchange (nor TTLs, nor dead-lettering): which is why the retry pump exists.
    assert set(virtual.Channel.exchange_types) == {"direct", "topic", "fanout"}


def test_kombu_virtual_channel_still_routes_as_virtual_route_asks():
    """compat.virtual_route asks what kombu's own delivery asks (``_lookup``; fanout reads the same table)."""
    from kombu.transport.virtual import exchange

    assert "self.typeof(exchange).lookup(" in inspect.getsource(virtual.Channel._lookup)
    assert "self.get_table(exchange)" in inspect.getsource(virtual.Channel._lookup)
    assert "self.get_table(exchange)" in inspect.getsource(filesystem.Channel._put_fanout)
    assert list(inspect.signature(exchange.ExchangeType.lookup).parameters) == [
        "self", "table", "exchange", "routing_key", "default"]
    assert virtual.Channel.deadletter_queue is None  # no default queue that would swallow an unroutable message


def test_virtual_route_names_the_queues_kombu_would_deliver_to(monkeypatch):
    from kombu import Connection, Exchange, Queue
    from kombu.transport import memory

    monkeypatch.setattr(memory.Transport, "global_state", virtual.BrokerState())  # no other test's bindings
    with Connection("memory://") as conn:
        channel = conn.channel()
        topic, fanout = Exchange("t", "topic"), Exchange("f", "fanout")
        Queue("accounts", exchange=topic, routing_key="account.*")(channel).declare()
        Queue("everything", exchange=topic, routing_key="#")(channel).declare()
        Queue("copies", exchange=fanout)(channel).declare()
        assert compat.virtual_route(channel, "t", "account.closed") == {"accounts", "everything"}
        assert compat.virtual_route(channel, "t", "policy.upserted") == {"everything"}
        assert compat.virtual_route(channel, "f", "any") == {"copies"}
        assert compat.virtual_route(channel, "nobody.declared.this", "account.closed") == set()
        Exchange("empty", "topic")(channel).declare()
        assert compat.virtual_route(channel, "empty", "account.closed") == set()


def test_py_amqp_still_reads_frames_through_transport_read_frame():
    """compat.read_ahead replaces a TCPTransport's ``read_frame`` on the instance and takes over ``_read_buffer``."""
    from amqp import connection

    assert "self.transport.read_frame()" in inspect.getsource(connection.Connection.blocking_read)
    assert "self._read_buffer = EMPTY_BUFFER" in inspect.getsource(amqp.transport.TCPTransport._setup_transport)
    assert amqp.transport.EMPTY_BUFFER == b"" and isinstance(amqp.transport._UNAVAIL, set)


def test_read_ahead_cuts_whole_frames_across_reads_and_keeps_a_partial_frame_through_a_timeout():
    import socket
    import struct
    from types import SimpleNamespace

    def frame(kind, channel, payload):
        return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"

    ours, broker = socket.socketpair()
    transport = amqp.transport.TCPTransport.__new__(amqp.transport.TCPTransport)
    transport.sock, transport._read_buffer, transport.connected = ours, b"", True
    assert compat.read_ahead(SimpleNamespace(connection=SimpleNamespace(transport=transport)))
    frames = [frame(1, 1, b"method"), frame(2, 1, b"h" * 300), frame(3, 1, b"x" * 70000)]
    broker.sendall(b"".join(frames))
    assert transport.read_frame() == (1, 1, b"method")
    assert transport.read_frame() == (2, 1, b"h" * 300)
    assert transport.read_frame() == (3, 1, b"x" * 70000)
    half = frame(1, 2, b"later")
    broker.sendall(half[:5])
    ours.settimeout(0.05)
    with pytest.raises(socket.timeout):
        transport.read_frame()
    broker.sendall(half[5:])
    assert transport.read_frame() == (1, 2, b"later")  # nothing of the partial frame was lost
    broker.sendall(frame(1, 1, b"bad")[:-1] + b"\x00")
    with pytest.raises(amqp.exceptions.UnexpectedFrame):
        transport.read_frame()
    ours.close()
    broker.close()
