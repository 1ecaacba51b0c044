"""deploy/rabbitmq/definitions.json agrees with contracts/topology.json and with what the processes declare.

RabbitMQ refuses a re-declaration whose arguments differ from the existing queue (PRECONDITION_FAILED,
"inequivalent arg"), so the definitions loaded at boot must match portal_common.bus declarations exactly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

VHOST = "/"


def retry_queues(topology: dict, spec: dict) -> list[str]:
    return [f"{spec['retry_queue_prefix']}.{n}" for n in range(len(topology["retry_delays_seconds"]))]


def expected_bindings(topology: dict) -> set[tuple[str, str, str]]:
    result = set()
    for svc, spec in topology["services"].items():
        result |= {(topology["exchange"], spec["queue"], key) for key in spec["bindings"]}
        result.add((topology["dead_letter_exchange"], spec["dead_letter_queue"], svc))  # the broker's (delivery limit)
        result.add((spec["dead_letter_queue"], spec["dead_letter_queue"], ""))  # the consumer's own, named like it
        result.add((spec["requeue_exchange"], spec["queue"], "#"))
        result |= {(name, name, "") for name in retry_queues(topology, spec)}
    return result


def test_exchanges(definitions, topology):
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    requeue = {spec["requeue_exchange"] for spec in topology["services"].values()}
    tiers = {name for spec in topology["services"].values() for name in retry_queues(topology, spec)}
    dead = {spec["dead_letter_queue"] for spec in topology["services"].values()}  # each consumer's dead letters
    assert set(exchanges) == {topology["exchange"], topology["dead_letter_exchange"], *requeue, *tiers, *dead}
    main, dlx = exchanges[topology["exchange"]], exchanges[topology["dead_letter_exchange"]]
    assert (main["type"], main["durable"]) == ("topic", True)
    assert (dlx["type"], dlx["durable"]) == ("direct", True)
    assert all((exchanges[name]["type"], exchanges[name]["durable"]) == ("fanout", True) for name in tiers | dead)
    assert all((exchanges[name]["type"], exchanges[name]["durable"]) == ("topic", True) for name in requeue)


def test_queues(definitions, topology):
    queues = {q["name"]: q for q in definitions["queues"]}
    expected = set()
    for svc, spec in topology["services"].items():
        expected |= {spec["queue"], spec["dead_letter_queue"]}
        events = queues[spec["queue"]]
        assert events["durable"] is True
        assert events["arguments"] == {
            "x-queue-type": "quorum",
            "x-delivery-limit": topology["delivery_limit"],
            "x-dead-letter-exchange": topology["dead_letter_exchange"],
            "x-dead-letter-routing-key": svc,
        }
        assert queues[spec["dead_letter_queue"]]["durable"] is True
        for name, delay in zip(retry_queues(topology, spec), topology["retry_delays_seconds"]):
            expected.add(name)
            assert queues[name]["arguments"]["x-message-ttl"] == delay * 1000
            assert queues[name]["arguments"]["x-dead-letter-exchange"] == spec["requeue_exchange"]
    assert set(queues) == expected


def test_every_consumed_quorum_queue_has_a_delivery_limit(definitions, topology):
    """RabbitMQ 3.10's quorum queues have no default delivery limit: a poison message would loop forever.
    Dead-letter queues are the end of the line: no limit and no further dead-lettering, so nothing is dropped."""
    consumed = {spec["queue"] for spec in topology["services"].values()}
    dead = {spec["dead_letter_queue"] for spec in topology["services"].values()}
    for queue in definitions["queues"]:
        arguments = queue.get("arguments", {})
        if queue["name"] in consumed:
            assert arguments.get("x-queue-type") == "quorum", queue["name"]
            assert isinstance(arguments.get("x-delivery-limit"), int), queue["name"]
            assert arguments.get("x-dead-letter-exchange") == topology["dead_letter_exchange"], queue["name"]
        elif queue["name"] in dead:
            assert "x-delivery-limit" not in arguments and "x-dead-letter-exchange" not in arguments, queue["name"]


def test_bindings(definitions, topology):
    actual = [(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]]
    assert len(actual) == len(set(actual)), "duplicate bindings"
    assert set(actual) == expected_bindings(topology)
    assert all(b["destination_type"] == "queue" for b in definitions["bindings"])


def test_every_entity_lives_in_the_portal_vhost(definitions):
    """deploy/rabbitmq/entrypoint.sh creates vhost "/" (imported before this file) and grants the portal user
    access to it only; the file itself need not list it."""
    for kind in ("exchanges", "queues", "bindings"):
        for entity in definitions[kind]:
            assert entity["vhost"] == VHOST, f"{entity.get('name', entity)}: vhost"
    assert {v["name"] for v in definitions.get("vhosts", [])} <= {VHOST}


def test_definitions_hold_no_users():
    """Users come from deploy/rabbitmq/entrypoint.sh (password from the environment), imported before this
    file; a user here would be a credential in git and would overwrite that password at every boot."""
    definitions = json.loads((REPO / "deploy" / "rabbitmq" / "definitions.json").read_text())
    assert not definitions.get("users")
    assert not definitions.get("permissions")


def test_rabbitmq_conf_imports_the_rendered_directory():
    conf = (REPO / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    entrypoint = (REPO / "deploy" / "rabbitmq" / "entrypoint.sh").read_text()
    assert "definitions.import_backend = local_filesystem" in conf
    assert "definitions.local.path = /etc/rabbitmq/definitions.d" in conf
    assert "/etc/rabbitmq/definitions.d" in entrypoint


def test_entrypoint_renders_the_user_from_the_environment(tmp_path):
    """Run the wrapper with a stand-in for the image's docker-entrypoint.sh; a password with JSON-special
    characters must survive as valid JSON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker-entrypoint.sh"
    fake.write_text('#!/bin/sh\necho "handed over: $*"\n')
    fake.chmod(0o755)
    out_dir = tmp_path / "definitions.d"
    password = 'p"a\\ss w0rd'
    env = dict(
        os.environ,
        PATH=f"{bin_dir}:{os.environ['PATH']}",
        PORTAL_RABBITMQ_PASSWORD=password,
        **{f"PORTAL_RABBITMQ_{who.upper()}_PASSWORD": f"{who}-{password}" for who in SERVICE_USERS},
        PORTAL_RABBITMQ_DEFINITIONS=str(REPO / "deploy" / "rabbitmq" / "definitions.json"),
        PORTAL_RABBITMQ_DEFINITIONS_DIR=str(out_dir),
    )
    result = subprocess.run(["sh", str(REPO / "deploy" / "rabbitmq" / "entrypoint.sh"), "rabbitmq-server"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "handed over: rabbitmq-server"
    assert sorted(p.name for p in out_dir.iterdir()) == ["10-users.json", "20-topology.json", "30-permissions.json"]
    users = json.loads((out_dir / "10-users.json").read_text())
    assert users["users"] == [{"name": "portal", "password": password, "tags": "administrator"}] + [
        {"name": f"portal-{who}", "password": f"{who}-{password}", "tags": ""} for who in SERVICE_USERS]
    assert users["permissions"][0]["user"] == "portal"
    assert (out_dir / "10-users.json").stat().st_mode & 0o077 == 0, "the rendered password file is private"


SERVICE_USERS = ("policies", "identity", "documents", "notify", "crm", "core", "gateway")


def test_entrypoint_creates_every_broker_user_the_permissions_name():
    """The users the entrypoint renders are exactly those deploy/rabbitmq/permissions.json gives rights to."""
    entrypoint = (REPO / "deploy" / "rabbitmq" / "entrypoint.sh").read_text()
    listed = entrypoint.split('PORTAL_SERVICE_USERS="', 1)[1].split('"', 1)[0].split()
    permissions = json.loads((REPO / "deploy" / "rabbitmq" / "permissions.json").read_text())
    assert tuple(listed) == SERVICE_USERS
    assert {p["user"] for p in permissions["permissions"]} == {f"portal-{who}" for who in listed}
    assert {p["user"] for p in permissions["topic_permissions"]} == {f"portal-{who}" for who in listed}


def test_a_missing_service_user_password_stops_the_broker(tmp_path):
    env = dict(os.environ, PORTAL_RABBITMQ_PASSWORD="admin-secret",
               **{f"PORTAL_RABBITMQ_{who.upper()}_PASSWORD": "x" for who in SERVICE_USERS if who != "notify"})
    env.pop("PORTAL_RABBITMQ_NOTIFY_PASSWORD", None)
    env["PORTAL_RABBITMQ_DEFINITIONS"] = str(REPO / "deploy" / "rabbitmq" / "definitions.json")
    env["PORTAL_RABBITMQ_DEFINITIONS_DIR"] = str(tmp_path / "d")
    result = subprocess.run(["sh", str(REPO / "deploy" / "rabbitmq" / "entrypoint.sh"), "rabbitmq-server"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "PORTAL_RABBITMQ_NOTIFY_PASSWORD" in result.stderr


def test_permissions_json_is_what_make_definitions_writes(bus):
    from portal_common.broker_users import export_permissions

    topology = bus.load_topology(REPO / "contracts" / "topology.json", namespace="")
    committed = json.loads((REPO / "deploy" / "rabbitmq" / "permissions.json").read_text())
    assert committed == export_permissions(topology), "run: make definitions"


def test_each_user_may_write_dead_letters_only_into_its_own_queue(topology):
    """``portal.dlx`` is direct (no topic permissions): write there would let one service drop a forged event into
    another's dead letters. The broker dead-letters there without any user's permission; each consumer writes to
    its own ``<svc>.dead`` exchange, and no other user's pattern matches that name."""
    import re

    permissions = json.loads((REPO / "deploy" / "rabbitmq" / "permissions.json").read_text())
    dead = {svc: spec["dead_letter_queue"] for svc, spec in topology["services"].items()}
    for entry in permissions["permissions"]:
        who = entry["user"].removeprefix("portal-")
        assert not re.fullmatch(entry["write"], topology["dead_letter_exchange"]), entry["user"]
        assert {svc for svc, name in dead.items() if re.fullmatch(entry["write"], name)} == (
            {who} if who in dead else set()), entry["user"]


def test_entrypoint_requires_a_password(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PORTAL_RABBITMQ_PASSWORD"}
    env["PORTAL_RABBITMQ_DEFINITIONS_DIR"] = str(tmp_path / "d")
    result = subprocess.run(["sh", str(REPO / "deploy" / "rabbitmq" / "entrypoint.sh"), "rabbitmq-server"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "PORTAL_RABBITMQ_PASSWORD" in result.stderr


# --------------------------------------------------------------------------- agreement with portal_common.bus

@pytest.fixture(scope="module")
def bus():
    """portal_common.bus from the repo (installed or not); skipped while it or kombu is unavailable."""
    src = REPO / "libs" / "portal_common" / "src"
    if src.is_dir() and str(src) not in sys.path:
        sys.path.insert(0, str(src))
    pytest.importorskip("kombu")
    return pytest.importorskip("portal_common.bus")


def test_queue_arguments_match_what_the_processes_declare(bus, definitions, monkeypatch):
    monkeypatch.delenv("PORTAL_BUS_NAMESPACE", raising=False)
    topology = bus.load_topology(REPO / "contracts" / "topology.json", namespace="")
    declared = {}
    for svc in topology.services:
        for queue in bus.service_queues(topology, svc, amqp_broker=True):
            declared[queue.name] = dict(queue.queue_arguments or {})
    in_file = {q["name"]: q.get("arguments") or {} for q in definitions["queues"]}
    for name, arguments in declared.items():
        assert in_file.get(name) == arguments, (
            f"{name}: definitions.json has {in_file.get(name)}, the services declare {arguments}; "
            "RabbitMQ would refuse the declaration with PRECONDITION_FAILED"
        )


def test_every_event_of_the_contracts_has_exactly_one_publisher_on_the_broker(bus):
    """A new event nobody may publish would be refused in production; one two users may publish is forgeable."""
    import re

    from portal_common.broker_users import export_permissions

    topology = bus.load_topology(REPO / "contracts" / "topology.json", namespace="")
    writers = {p["user"]: re.compile(p["write"]) for p in export_permissions(topology)["topic_permissions"]}
    events = {path.name.rsplit(".v", 1)[0] for path in (REPO / "contracts" / "events").glob("*.json")}
    assert len(events) > 10
    for event in sorted(events):
        assert len([user for user, pattern in writers.items() if pattern.match(event)]) == 1, event
