"""A broker cut costs a message held by a worker one of its quorum queue's delivery attempts, not one per batch the
worker applies at once.

RabbitMQ 3.10 counts every unacknowledged delivery that a closing channel hands back towards the quorum queue's
``x-delivery-limit``. When several consumer channels die together (a cut, a broker restart), the broker notices them
one after the other and gives what the first handed back to the next one it still thinks open, which hands it back
again: with one channel per applied batch (the documents worker had 8) one cut counted up to 8 returns and the limit
of 5 dead-lettered messages that never failed (the chaos run of ``make test``). The worker now keeps one channel for
all its batches (:mod:`portal_common.consumer`).
"""
from __future__ import annotations

import importlib.util
import re
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from portal_common.bus import OutgoingMessage, Publisher, connect
from portal_common.consumer import Worker
from portal_common.testing import AppliedLog, plumbing_bus, wait_until

pytestmark = [pytest.mark.broker]
EVENT = "policy.upserted"
CONSUMERS = 8  # the documents worker of the chaos run that failed; production: 2 replicas x 4
MESSAGES = 100  # fewer than the worker's credit (8 x 2 x 10): the broker has somewhere to give a returned one


def _proxy_class():
    spec = importlib.util.spec_from_file_location("cut_proxy", Path(__file__).with_name("_proxy.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Proxy


def _via(url: str, port: int) -> str:
    return re.sub(r"@[^/]+", f"@127.0.0.1:{port}", url, count=1)


def _depth(url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of ``queue``."""
    with connect(url) as conn:
        _name, ready, consumers = conn.channel().queue_declare(queue, passive=True)
        return ready, consumers


def test_one_broker_cut_returns_each_held_message_once_with_8_batches_in_hand(amqp_url, topology, channel, tmp_path):
    broker_port = int(re.search(r"@[^:/]+:(\d+)", amqp_url).group(1))
    proxy = _proxy_class()("127.0.0.1", broker_port)
    url = _via(amqp_url, proxy.start())
    log = AppliedLog(tmp_path / "worker.db")
    release, calls = threading.Event(), Counter()

    def apply(data, *, uow, message):  # every applier holds its batch until the cut is over
        calls[message.message_id] += 1
        release.wait(120)

    worker = Worker("policies", plumbing_bus(apply, [EVENT]), log.session_factory, topology, url=url,
                    batch_size=10, max_wait=0.05, consumers=CONSUMERS)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    sq = topology.for_service("policies")
    try:
        wait_until(lambda: worker.connected, timeout=30, message="the worker to consume")
        publisher = Publisher(topology, url=amqp_url, confirm_timeout=10.0)
        results = publisher.publish_batch(
            OutgoingMessage.for_event(str(uuid.uuid4()), EVENT, {"n": i}, occurred_at="2026-12-05T00:00:00+00:00",
                                      correlation_id=None) for i in range(MESSAGES))
        publisher.close()
        assert set(results.values()) == {None}
        wait_until(lambda: _depth(amqp_url, sq.queue)[0] == 0 and len(calls) >= CONSUMERS, timeout=30,
                   message="every message delivered and every applier holding a batch")

        proxy.stop()  # the cut; the broker stays unreachable for the worker until the end of the test
        release.set()
        wait_until(lambda: _depth(amqp_url, sq.queue) == (MESSAGES, 0), timeout=30,
                   message="the broker to take every held message back")

        counts = Counter()
        while True:
            method, properties, _body = channel.basic_get(sq.queue, auto_ack=True)
            if method is None:
                break
            counts[(properties.headers or {}).get("x-delivery-count", 0)] += 1
        dead = channel.queue_declare(sq.dead_letter_queue, passive=True).method.message_count
        # x-delivery-count: how often the broker counted the message as handed back. One cut, one return.
        assert counts == {1: MESSAGES} and dead == 0, (counts, dead)
    finally:
        release.set()
        worker.stop()
        thread.join(timeout=30)
        proxy.stop()
        log.engine.dispose()
