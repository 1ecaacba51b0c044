"""``portal-deadletters`` on ``make run``'s file bus: the dead letters are files, listed in place, purged after a
question, and a replay that nothing would receive keeps the letter instead of dropping it."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid

import pytest

from portal_common import deadletters
from portal_common.bus import OutgoingMessage, Publisher, connect, declare_topology, load_topology
from portal_common.testing import fresh_file_bus_memory

NOW = "2026-11-21T10:00:00+00:00"


@pytest.fixture
def bus(tmp_path, monkeypatch):
    # A folder of its own per test, and a kombu binding memory of its own: with the memory another file-bus test in
    # this process left behind, the topology was never written to this folder and both letters went nowhere.
    var = tmp_path / "var"
    fresh_file_bus_memory(monkeypatch)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(var))
    monkeypatch.delenv("PORTAL_AMQP_URL", raising=False)
    topology = load_topology(namespace="")
    with connect(None) as conn:
        declare_topology(conn, topology)
    publisher = Publisher(topology, url=None)
    ids = []
    for n in (1, 2):  # as the consumer dead-letters: to its own <service>.dead, key = the service, with the reason
        m = OutgoingMessage.for_event(str(uuid.uuid4()), "policy.upserted", {"n": n}, occurred_at=NOW,
                                      correlation_id=None)
        m.headers.update({"x-dead-reason": f"unknown product line {n}", "x-dead-routing-key": "policy.upserted",
                          "x-dead-at": NOW, "x-attempts": 1})
        m.exchange, m.routing_key = topology.for_service("policies").dead_letter_exchange, "policies"
        assert publisher.publish_batch([m]) == {m.message_id: None}
        ids.append(m.message_id)
    publisher.close()
    return topology, ids, var


def cli(topology, *argv):
    out = io.StringIO()
    return deadletters.main(list(argv), out=out, topology=topology), out.getvalue()


def test_list_show_and_purge_on_the_file_bus(bus):
    topology, ids, var = bus
    code, text = cli(topology, "list", "policies", "--reason", "unknown product line")
    assert code == 0 and text.splitlines()[0] == "policies: 2 dead letter(s) matching (of 2)"
    assert all(i in text for i in ids) and "unknown product line 1" in text
    assert len(list((var / "bus" / "data").glob("*.policies.dead.msg"))) == 2  # listing took nothing away
    code, text = cli(topology, "show", "policies", ids[1])
    assert code == 0 and "reason:         unknown product line 2" in text and '"n": 2' in text
    code, text = cli(topology, "purge", "policies", ids[0], "--yes")
    assert code == 0 and "policies: 1 dead letter(s) purged" in text
    assert ids[0] not in cli(topology, "list", "policies")[1]


def test_a_replay_nothing_would_receive_keeps_the_letter(bus, monkeypatch):
    topology, ids, var = bus
    monkeypatch.setattr(deadletters.FileBusDeadLetters, "requeue_exchange", lambda self: "nobody.listens")
    before = sorted((var / "bus" / "data").glob("*.policies.dead.msg"))
    code, text = cli(topology, "replay", "policies", *ids)
    assert code == 3, text
    assert text.count("not replayed (RuntimeError: unroutable: nothing bound to 'nobody.listens'") == 2
    assert sorted((var / "bus" / "data").glob("*.policies.dead.msg")) == before


def test_a_replay_goes_back_into_the_work_queue_with_its_message_id(bus):
    topology, ids, var = bus
    data = var / "bus" / "data"
    before = set(data.glob("*.policies.events.msg"))
    code, text = cli(topology, "replay", "policies", ids[0])
    assert code == 0 and "policies: 1 dead letter(s) replayed to policies.requeue" in text, text
    [new] = set(data.glob("*.policies.events.msg")) - before
    raw = json.loads(new.read_text())
    assert raw["properties"]["message_id"] == ids[0] and raw["headers"]["x-replays"] == 1
    assert "x-dead-reason" not in raw["headers"] and ids[0] not in cli(topology, "list", "policies")[1]


def test_portal_deadletters_replays_from_a_process_of_its_own(bus):
    """The operator's command runs in a fresh process that has declared nothing: the replay must still find the
    route (it found none, and kept every letter as "unroutable", when the process had not declared the topology)."""
    topology, ids, var = bus
    data = var / "bus" / "data"
    before = set(data.glob("*.policies.events.msg"))
    env = {k: v for k, v in os.environ.items() if k not in ("PORTAL_AMQP_URL", "PORTAL_BUS_NAMESPACE")}
    done = subprocess.run([sys.executable, "-m", "portal_common.deadletters", "replay", "policies", ids[0]],
                          env={**env, "PORTAL_VAR_DIR": str(var)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "policies: 1 dead letter(s) replayed to policies.requeue" in done.stdout
    [new] = set(data.glob("*.policies.events.msg")) - before
    assert json.loads(new.read_text())["properties"]["message_id"] == ids[0]
    assert ids[0] not in cli(topology, "list", "policies")[1] and ids[1] in cli(topology, "list", "policies")[1]
