"""contracts/asyncapi.yaml stays in step with the schema files and with topology.json.

The cross-checks read the file with regular expressions, so they need no YAML package; the structural check runs
when PyYAML is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
ASYNCAPI = CONTRACTS_DIR / "asyncapi.yaml"
EXTERNAL_EVENTS = ("policy.upserted", "document.uploaded")


def asyncapi_text() -> str:
    return ASYNCAPI.read_text(encoding="utf-8")


def channel_names() -> set[str]:
    """Keys indented by two spaces inside the top-level ``channels:`` block."""
    block = re.search(r"^channels:\n(.*?)(?=^\S)", asyncapi_text(), re.DOTALL | re.MULTILINE)
    assert block, "asyncapi.yaml has no top-level channels: block"
    return set(re.findall(r"^  ([a-z][a-z0-9_.]*):\s*$", block.group(1), re.MULTILINE))


def payload_refs() -> set[str]:
    return set(re.findall(r"\$ref: '\./(events/[^']+\.json)'", asyncapi_text()))


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: * is exactly one word, # is zero or more words."""
    regex = re.escape(pattern).replace(r"\*", r"[^.]+").replace(r"\#", r".*")
    return re.fullmatch(regex, routing_key) is not None


def newest(event: str) -> str:
    """``events/<event>.v<N>.json`` of the highest N: the version producers publish now."""
    versions = [int(p.name.rsplit(".v", 1)[1][:-len(".json")]) for p in (CONTRACTS_DIR / "events").glob(f"{event}.v*.json")]
    return f"events/{event}.v{max(versions)}.json"


def test_asyncapi_version_is_2_6():
    assert re.search(r"^asyncapi: 2\.6\.0$", asyncapi_text(), re.MULTILINE)


def test_every_schema_file_has_a_channel():
    events = {path.name.rsplit(".v", 1)[0] for path in (CONTRACTS_DIR / "events").glob("*.json")}
    missing = events - channel_names()
    assert not missing, f"schemas without a channel in asyncapi.yaml: {sorted(missing)}"


def test_every_channel_points_at_its_newest_schema():
    refs = payload_refs()
    for channel in channel_names():
        assert newest(channel) in refs, f"channel {channel}: payload $ref './{newest(channel)}'"


def test_external_event_payloads_exist():
    for event in EXTERNAL_EVENTS:
        assert f"events/{event}.v1.json" in payload_refs()
        assert (CONTRACTS_DIR / "events" / f"{event}.v1.json").is_file()


def test_every_topology_binding_matches_a_channel(topology):
    channels = channel_names()
    for service, spec in topology["services"].items():
        for binding in spec["bindings"]:
            assert any(topic_matches(binding, channel) for channel in channels), (
                f"{service} binds {binding!r} but no channel in asyncapi.yaml matches it"
            )


def test_exchange_matches_topology(topology):
    text = asyncapi_text()
    assert re.search(rf"^\s+name: {re.escape(topology['exchange'])}$", text, re.MULTILINE)
    assert re.search(r"^\s+type: topic$", text, re.MULTILINE)


def test_structure_when_pyyaml_is_installed():
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load(asyncapi_text())
    assert document["asyncapi"] == "2.6.0"
    messages = document["components"]["messages"]
    for name, channel in document["channels"].items():
        operations = [channel[op] for op in ("publish", "subscribe") if op in channel]
        assert len(operations) == 1, f"{name}: exactly one of publish/subscribe"
        message = messages[operations[0]["message"]["$ref"].rsplit("/", 1)[1]]
        assert message["name"] == name
        assert message["payload"]["$ref"] == f"./{newest(name)}"
        assert message["bindings"]["amqp"]["messageType"] == name
    for event in EXTERNAL_EVENTS:
        assert "publish" in document["channels"][event], f"{event} is published by external systems"
