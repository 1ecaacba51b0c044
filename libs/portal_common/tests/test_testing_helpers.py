"""The shared test helpers themselves, where a flaw would make other tests flaky rather than fail."""
from __future__ import annotations

import socket

from portal_common import testing


def test_free_port_never_hands_out_a_port_twice_even_when_the_kernel_offers_it_again(monkeypatch):
    real = socket.socket
    with real() as a, real() as b:  # two ports that are free now
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        first, second = a.getsockname()[1], b.getsockname()[1]
    offers = iter([first, first, second])  # the kernel picks the port of the previous call again, then another

    class Kernel(real):
        def bind(self, address):
            host, port = address
            super().bind((host, port or next(offers)))

    monkeypatch.setattr(testing, "_handed_out", set(), raising=False)  # what earlier tests of this process took
    monkeypatch.setattr(socket, "socket", Kernel)
    assert [testing.free_port(), testing.free_port()] == [first, second]


def test_free_port_hands_out_many_distinct_ports_at_once():
    ports = [testing.free_port() for _ in range(200)]
    assert len(set(ports)) == 200 and all(1024 <= p <= 65535 for p in ports)
