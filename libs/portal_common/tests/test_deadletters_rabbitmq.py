"""``portal-deadletters`` on real RabbitMQ, against dead letters a real worker made: list and show lose nothing (not
even when the command is killed while it holds them), replay applies a letter once even when it is replayed twice,
purge asks first."""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY
from kombu import Exchange, Queue
from sqlalchemy import Column, MetaData, String, Table, select

from portal_common import deadletters
from portal_common.bus import (OutgoingMessage, Publisher, connect, declare_topology, delete_topology,
                               load_topology)
from portal_common.consumer import PermanentError, Worker
from portal_common.db import make_engine, make_session_factory, plumbing_tables
from portal_common.testing import bus_namespace, plumbing_bus, require_rabbitmq, wait_until

pytestmark = pytest.mark.broker
EVENT = "policy.upserted"
NOW = "2026-11-21T10:00:00+00:00"

metadata = MetaData()
applied = Table("applied", metadata, Column("message_id", String(200)), Column("n", String(20)))
plumbing_tables(metadata)


class Portal:
    """A policies worker on a namespaced topology; its handler fails for good until ``fixed``."""

    def __init__(self, tmp_path, url):
        self.url = url
        self.namespace = bus_namespace()
        self.topology = load_topology(namespace=self.namespace)
        with connect(url) as conn:
            declare_topology(conn, self.topology)
            sq = self.topology.for_service("policies")
            if not getattr(sq, "requeue_exchange", ""):  # until the shared topology declares <service>.requeue
                requeue = Exchange(f"{self.namespace}.policies.requeue", "topic", durable=True)
                Queue(sq.queue, exchange=requeue, routing_key="#", durable=True,
                      queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": self.topology.delivery_limit,
                                       "x-dead-letter-exchange": self.topology.dead_letter_exchange,
                                       "x-dead-letter-routing-key": "policies"})(conn.channel()).declare()
        self.engine = make_engine(f"sqlite:///{tmp_path / 'worker.db'}")
        metadata.create_all(self.engine)
        self.fixed = False
        self.worker = Worker("policies", plumbing_bus(self._apply, [EVENT]), make_session_factory(self.engine),
                             self.topology, url=url, max_wait=0.02)
        self.thread = threading.Thread(target=self.worker.run_forever, daemon=True)
        self.thread.start()
        self.publisher = Publisher(self.topology, url=url)

    def _apply(self, data, *, uow, message):
        if not self.fixed:
            raise PermanentError(f"unknown product line for policy {data['n']}")
        uow.session.execute(applied.insert().values(message_id=message.message_id, n=data["n"]))

    def send(self, n: str) -> str:
        m = OutgoingMessage.for_event(str(uuid.uuid4()), EVENT, {"n": n}, occurred_at=NOW, correlation_id=None)
        assert self.publisher.publish_batch([m]) == {m.message_id: None}
        return m.message_id

    def applied(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(applied.c.message_id, applied.c.n)).all())

    def depth(self) -> int:
        with connect(self.url) as conn:
            return conn.channel().queue_declare(self.topology.for_service("policies").dead_letter_queue,
                                                passive=True)[1]

    def cli(self, *argv, now=None) -> tuple[int, str]:
        out = io.StringIO()
        code = deadletters.main(list(argv), out=out, now=now, topology=self.topology)
        return code, out.getvalue()

    def close(self):
        self.worker.stop()
        self.thread.join(30)
        self.publisher.close()
        with connect(self.url) as conn:
            delete_topology(conn, self.topology)
        self.engine.dispose()


@pytest.fixture
def portal(tmp_path, monkeypatch):
    url = require_rabbitmq()
    monkeypatch.setenv("PORTAL_AMQP_URL", url)
    p = Portal(tmp_path, url)
    yield p
    p.close()


def three_dead_letters(portal) -> list[str]:
    ids = [portal.send(n) for n in ("KGFB-1", "KGFB-2", "KGFB-3")]
    wait_until(lambda: portal.depth() == 3, timeout=20, message="three dead letters")
    return ids


def test_list_and_show_say_what_failed_and_leave_every_letter_in_place(portal):
    ids = three_dead_letters(portal)
    gauge = deadletters.DeadLetterGauge("policies", portal.topology, portal.url)
    assert gauge.read_once() == 3
    assert REGISTRY.get_sample_value("portal_dead_letter_queue_messages", {"service": "policies"}) == 3
    for _ in range(2):
        code, text = portal.cli("list", "policies")
        assert code == 0 and portal.depth() == 3
    lines = text.splitlines()
    assert lines[0] == "policies: 3 dead letter(s)"
    rows = [line.split() for line in lines[2:]]
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert {r[1] for r in rows} == {EVENT}
    assert all("unknown product line for policy KGFB-" in line for line in lines[2:])
    for row in rows:  # first failure and dead-at are times of this run, in order
        first, dead = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in row[3:5])
        assert first <= dead and abs(datetime.now(timezone.utc) - dead) < timedelta(hours=1)

    code, text = portal.cli("show", "policies", ids[1])
    assert code == 0 and portal.depth() == 3
    assert f"message_id:     {ids[1]}" in text and f"event:          {EVENT}" in text
    assert "reason:         unknown product line for policy KGFB-2" in text and '"n": "KGFB-2"' in text

    code, text = portal.cli("list", "policies", "--reason", "KGFB-3")
    assert text.splitlines()[0] == "policies: 1 dead letter(s) matching (of 3)"
    later = datetime.now(timezone.utc) + timedelta(hours=3)
    assert portal.cli("list", "policies", "--older-than", "2h", now=later)[1].startswith(
        "policies: 3 dead letter(s) matching")
    assert portal.cli("list", "policies", "--older-than", "2h")[1].startswith("policies: 0 dead letter(s) matching")


def test_a_browser_killed_while_it_holds_the_letters_loses_none(portal):
    three_dead_letters(portal)
    script = ("import sys, time\n"
              "from portal_common import deadletters\n"
              "from portal_common.bus import load_topology\n"
              f"q = deadletters.open_queue(load_topology(namespace={portal.namespace!r}), 'policies', {portal.url!r})\n"
              "held = list(q.browse())\n"
              "print(len(held), flush=True)\n"
              "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "3"
        assert portal.depth() == 0  # all three held unacknowledged by the browser
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    wait_until(lambda: portal.depth() == 3, timeout=20, message="the letters back in the queue")


def test_replay_applies_each_letter_once_even_when_it_is_replayed_twice(portal):
    ids = three_dead_letters(portal)
    portal.fixed = True
    code, text = portal.cli("replay", "policies", ids[0])
    assert code == 0 and "policies: 1 dead letter(s) replayed to" in text
    wait_until(lambda: len(portal.applied()) == 1, timeout=20, message="the replayed letter applied")
    assert portal.applied() == [(ids[0], "KGFB-1")] and portal.depth() == 2

    # A replay that crashed after publishing but before its ack leaves the letter in the queue as well: replaying
    # it again must not apply it twice. Put a copy of the first letter back into the dead-letter queue.
    with connect(portal.url) as conn:
        ch = conn.channel()
        dead = portal.topology.for_service("policies").dead_letter_exchange  # as the consumer dead-letters
        m = OutgoingMessage.for_event(ids[0], EVENT, {"n": "KGFB-1"}, occurred_at=NOW, correlation_id=None)
        m.headers.update({"x-dead-reason": "unknown product line for policy KGFB-1", "x-dead-routing-key": EVENT,
                          "x-dead-at": datetime.now(timezone.utc).isoformat(), "x-attempts": 1})
        ch.basic_publish(ch.prepare_message(m.body, content_type="application/json", headers=m.headers,
                                            properties={"message_id": ids[0], "delivery_mode": 2}),
                         exchange=dead, routing_key="policies")
    wait_until(lambda: portal.depth() == 3, timeout=20)
    code, text = portal.cli("replay", "policies", "--all")
    assert code == 0 and "policies: 3 dead letter(s) replayed" in text
    sentinel = portal.send("KGFB-4")  # one consumer, one queue: applied after everything replayed before it
    wait_until(lambda: sentinel in dict(portal.applied()), timeout=20, message="the replayed letters applied")
    assert portal.applied() == sorted([(ids[0], "KGFB-1"), (ids[1], "KGFB-2"), (ids[2], "KGFB-3"),
                                       (sentinel, "KGFB-4")])
    assert portal.depth() == 0


def test_purge_asks_first_and_deletes_only_what_matches(portal, monkeypatch):
    ids = three_dead_letters(portal)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no question can be asked
    code, text = portal.cli("purge", "policies", "--all")
    assert code == 0 and "3 dead letter(s) would be purged; add --yes" in text and portal.depth() == 3
    code, text = portal.cli("purge", "policies", "--reason", "KGFB-2", "--yes")
    assert code == 0 and "policies: 1 dead letter(s) purged" in text
    wait_until(lambda: portal.depth() == 2, timeout=20)
    remaining = portal.cli("list", "policies")[1]
    assert ids[1] not in remaining and ids[0] in remaining and ids[2] in remaining
    assert portal.cli("purge", "policies")[0] == 2  # no filter, no --all: refused
    assert portal.cli("list", "nosuch")[0] == 2


def _rabbitmqctl(*args) -> str:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_full_dead_letter_queue_holds_the_next_letter_back_instead_of_dropping_it(portal):
    """The bound of deploy/rabbitmq/definitions.json (here 2 letters instead of 100,000), as policies on this
    test's own queues: a poison message beyond it is neither dropped nor lost; it arrives once there is room."""
    policies = deadletters.bounding_policies(namespace=portal.namespace, max_length=2)
    for p in policies:
        _rabbitmqctl("set_policy", "-p", p["vhost"], "--apply-to", p["apply-to"], "--priority", str(p["priority"]),
                     p["name"], p["pattern"], json.dumps(p["definition"]))
    try:
        wait_until(lambda: f"{p['name']}" in _rabbitmqctl("list_queues", "-q", "name", "policy"), timeout=20,
                   message="the policies to apply")
        # A quorum queue refuses once it is *over* its bound: with max-length 2 it takes a third letter, then
        # holds the rest back. One at a time, so each publish sees the queue as it is.
        accepted = []
        for n in (1, 2, 3):
            accepted.append(portal.send(f"KGFB-{n}"))
            wait_until(lambda: portal.depth() == n, timeout=20, message=f"dead letter {n}")
        fourth = portal.send("KGFB-4")
        wait_until(lambda: _work_queue_holds(portal), timeout=20, message="the fourth held in the work queue")
        assert portal.depth() == 3 and fourth not in portal.cli("list", "policies")[1]
        assert portal.cli("purge", "policies", accepted[0], "--yes")[0] == 0
        wait_until(lambda: fourth in portal.cli("list", "policies")[1], timeout=60, message="the held letter")
        assert portal.depth() == 3 and portal.applied() == []
    finally:
        for p in policies:
            _rabbitmqctl("clear_policy", "-p", p["vhost"], p["name"])


def _work_queue_holds(portal) -> bool:
    queue = portal.topology.for_service("policies").queue
    for line in _rabbitmqctl("list_queues", "-q", "name", "messages").splitlines():
        name, _, count = line.rpartition("\t")
        if name.strip() == queue:
            return int(count) >= 1
    return False
