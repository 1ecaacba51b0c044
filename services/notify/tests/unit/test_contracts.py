"""Wire contracts: what notify emits validates against contracts/, what it consumes loads from contracts' examples,
and the committed OpenAPI document is what the code builds."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest

from notify.domain.model import FAILED, SMS, Delivery
from notify.entrypoints import openapi
from notify.entrypoints.schemas import EVENT_SCHEMAS
from notify.service_layer.recording import failure_event

CONTRACTS = Path(__file__).resolve().parents[4] / "contracts"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


def newest(folder: Path, event: str) -> Path:
    """The newest version of an event's file in ``folder`` (what producers publish now)."""
    found = sorted(folder.glob(f"{event}.v*.json"), key=lambda p: int(p.name.rsplit(".v", 1)[1][:-5]))
    return found[-1] if found else folder / f"{event}.v1.json"


def _validator(event: str):
    schema = json.loads(newest(CONTRACTS / "events", event).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("account_id,customer_id", [("2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "C-1"), (None, "C-1"), (None, None)])
def test_notification_failed_as_emitted_validates(account_id, customer_id):
    d = Delivery(cause_event_id="m-1", cause_event="account.activated", template="initial_password", channel=SMS,
                 to="+36301234567", language="hu", payload={}, created_at=NOW, next_attempt_at=NOW,
                 account_id=account_id, customer_id=customer_id)
    d.mark_failed("SMS gateway rejected the message: HTTP 400", NOW)
    assert d.status == FAILED
    payload = json.loads(json.dumps(failure_event(d, NOW).payload()))  # exactly what the outbox stores
    _validator("notification.failed").validate(payload)


def test_notification_failed_example_validates():
    example = json.loads((CONTRACTS / "events" / "examples" / "notification.failed.v1.json").read_text())
    _validator("notification.failed").validate(example)


@pytest.mark.parametrize("event", sorted(EVENT_SCHEMAS))
def test_consumed_example_loads_through_notify_schema(event):
    path = newest(CONTRACTS / "events" / "examples", event)
    if not path.exists():
        pytest.skip(f"{path.name} is not in contracts/ yet (its producer adds it)")
    data = EVENT_SCHEMAS[event]().load(json.loads(path.read_text(encoding="utf-8")))
    assert data


@pytest.mark.parametrize("event", sorted(EVENT_SCHEMAS))
def test_our_sample_events_match_the_producers_schemas(samples, event):
    if not newest(CONTRACTS / "events", event).exists():
        pytest.skip(f"{event} is not in contracts/ yet (its producer adds it)")
    _validator(event).validate(samples[event])


def test_committed_openapi_document_is_current():
    committed = (CONTRACTS / openapi.SPEC.output).read_text(encoding="utf-8")
    assert committed == openapi.SPEC.render(), "run: .venv/bin/python -m notify.entrypoints.openapi"


def _routed_here() -> set[str]:
    """Every event in contracts/ that notify's bindings (topology.json, ``account.*`` included) send to its queue."""
    from portal_common.bus import load_topology

    bindings = load_topology(CONTRACTS / "topology.json", namespace="").for_service("notify").bindings
    names = {p.name.rsplit(".v", 1)[0] for p in (CONTRACTS / "events").glob("*.v*.json")}

    def matches(binding: str, name: str) -> bool:
        b, n = binding.split("."), name.split(".")
        return len(b) == len(n) and all(x in ("*", y) for x, y in zip(b, n))
    return {name for name in names if any(matches(b, name) for b in bindings)}


def test_every_event_the_bindings_route_here_has_a_route_so_none_is_dead_lettered_as_unknown():
    """``account.*`` also routes events notify has nothing to say about (``account.sessions_ended``, for the
    gateway's cache): each needs a route — one that records a delivery, or a deliberate no-op — or every logout
    would land in notify.dead as an unknown event."""
    from notify import bootstrap

    routed = _routed_here()
    assert "account.sessions_ended" in routed and "account.password_changed" in routed
    assert routed - set(bootstrap.EVENTS) == set()


def test_a_sessions_ended_event_is_acknowledged_and_records_nothing():
    from types import SimpleNamespace

    from notify import bootstrap
    from notify.adapters.repository import FakeRepository
    from portal_common.delivery import Limits, decode, identify

    example = newest(CONTRACTS / "events" / "examples", "account.sessions_ended").read_bytes()
    raw = SimpleNamespace(body=example, headers={"version": 1}, properties={"message_id": "m-ended"},
                          delivery_info={"routing_key": "account.sessions_ended"},
                          content_type="application/json", content_encoding="utf-8")
    message, fields = decode(raw, identify(raw), bootstrap.EVENTS, Limits())
    route = bootstrap.EVENTS["account.sessions_ended"]  # decoded (not "unknown event"), then deliberately nothing
    repo = FakeRepository()
    bootstrap.bootstrap("sqlite://").bus.handle(route.handler, route.command(**fields), uow=SimpleNamespace(repo=repo),
                                                message=message)
    assert (repo.deliveries, repo.contacts, repo.events) == ({}, {}, [])
