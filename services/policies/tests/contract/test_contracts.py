"""Wire contracts of the policies service.

Producer side: the ``policy.enrolled`` payload policies emits — as the unit of work stages it and as the outbox row
stores it — validates against contracts/events/policy.enrolled.v1.json. Consumer side: the example of every event
bound to policies loads through its marshmallow schema and unknown fields are ignored. HTTP: the committed
contracts/http/policies.openapi.json is what the code builds.
"""
from __future__ import annotations

import copy
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import text

from policies import SERVICE
from policies.bootstrap import EVENTS, bootstrap
from policies.domain import commands
from policies.entrypoints import openapi
from policies.entrypoints.schemas import PolicyUpsertedSchema
from policies.service_layer import handlers
from policies.service_layer.unit_of_work import FakeUnitOfWork
from portal_common.bus import load_topology
from portal_common.testing import apply_event
from portal_common.testing import migrate

CONTRACTS = Path(__file__).resolve().parents[4] / "contracts"
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def schema_of(event: str) -> dict:
    return json.loads((CONTRACTS / "events" / f"{event}.v1.json").read_text(encoding="utf-8"))


def example_of(event: str) -> dict:
    return json.loads((CONTRACTS / "events" / "examples" / f"{event}.v1.json").read_text(encoding="utf-8"))


def errors(event: str, payload: dict) -> list[str]:
    validator = Draft202012Validator(schema_of(event), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(payload)]


def upserted(policy_number: str, payment_method: str, **changes) -> dict:
    """The policy.upserted example for another policy number / payment method."""
    event = example_of("policy.upserted")
    event.update(policy_number=policy_number, payment_method=payment_method, **changes)
    return event


def apply_upserted(wiring, event: dict) -> None:
    """What the worker does with one message (minus the broker)."""
    apply_event(wiring.bus, wiring.session_factory, "policy.upserted", event)


# ---------------------------------------------------------------------------------------------------- produced
def test_the_policy_enrolled_schema_is_valid_and_its_example_validates():
    Draft202012Validator.check_schema(schema_of("policy.enrolled"))
    assert errors("policy.enrolled", example_of("policy.enrolled")) == []


@pytest.mark.parametrize("method", ["cheque", "direct_debit", "bank_transfer"])
def test_policy_enrolled_as_staged_by_the_unit_of_work_validates(method):
    uow = FakeUnitOfWork()
    data = PolicyUpsertedSchema().load(upserted("HOME-1", method))
    holder = data.pop("policyholder")
    premium = data.pop("premium")
    handlers.upsert_policy(commands.UpsertPolicy(**data, premium_amount=premium["amount"],
                                                 premium_frequency=premium["frequency"], **holder), uow)
    handlers.enrol_policy(commands.EnrolPolicy("HOME-1", holder["customer_id"]), uow)
    [(name, payload)] = uow.published
    assert name == "policy.enrolled"
    assert errors(name, json.loads(json.dumps(payload))) == []
    assert payload["payment_method"] != "cheque"
    assert payload["previous_payment_method"] == method


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("policies") / "template.db"
    migrate(ALEMBIC_INI, f"sqlite:///{path}")  # the same migrations `make run` applies to its SQLite file
    return path


@pytest.fixture
def sqlite_wiring(migrated_sqlite, tmp_path):
    path = tmp_path / "policies.db"
    shutil.copyfile(migrated_sqlite, path)
    wiring = bootstrap(f"sqlite:///{path}")
    yield wiring
    wiring.engine.dispose()


def test_policy_enrolled_as_stored_in_the_outbox_validates(sqlite_wiring):
    apply_upserted(sqlite_wiring, upserted("HOME-2", "cheque"))
    customer_id = example_of("policy.upserted")["policyholder"]["customer_id"]
    handlers.enrol_policy(commands.EnrolPolicy("HOME-2", customer_id), sqlite_wiring.uow())
    with sqlite_wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, version, payload, published_at FROM outbox")).mappings().all()
    assert [(r["event"], r["version"], r["published_at"]) for r in rows] == [("policy.enrolled", 1, None)]
    payload = json.loads(rows[0]["payload"])
    assert errors("policy.enrolled", payload) == []
    assert payload == {"policy_number": "HOME-2", "customer_id": customer_id, "payment_method": "bank_transfer",
                       "previous_payment_method": "cheque"}


def test_policy_changed_as_stored_in_the_outbox_validates(sqlite_wiring):
    """Issue 9: the customer's second policy, then a change to it (in another offset: sent in UTC)."""
    apply_upserted(sqlite_wiring, upserted("HOME-3", "cheque"))
    apply_upserted(sqlite_wiring, upserted("HOME-4", "cheque"))
    apply_upserted(sqlite_wiring, upserted("HOME-4", "direct_debit", updated_at="2026-12-01T10:00:00+01:00"))
    with sqlite_wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, version, payload FROM outbox")).mappings().all()
    customer_id = example_of("policy.upserted")["policyholder"]["customer_id"]
    payloads = [json.loads(r["payload"]) for r in rows]
    assert [(r["event"], r["version"]) for r in rows] == [("policy.changed", 1)] * 2
    assert [errors("policy.changed", p) for p in payloads] == [[], []]
    assert payloads[1] == {"policy_number": "HOME-4", "customer_id": customer_id,
                           "changed_at": "2026-12-01T09:00:00+00:00"}
    assert errors("policy.changed", example_of("policy.changed")) == []


# ---------------------------------------------------------------------------------------------------- consumed
def test_policies_has_a_handler_for_exactly_the_events_its_bindings_route_to_it():
    bindings = load_topology(CONTRACTS / "topology.json", namespace="").for_service(SERVICE).bindings
    assert set(bindings) == set(EVENTS)


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_the_example_of_every_consumed_event_validates_and_loads(event):
    assert errors(event, example_of(event)) == []
    assert EVENTS[event].load(example_of(event))


def test_policy_upserted_example_loads_with_the_fields_policies_reads():
    data = PolicyUpsertedSchema().load(example_of("policy.upserted"))
    assert data["policy_number"] == "KGFB-2024-000123" and data["payment_method"] == "cheque"
    assert data["premium"] == {"amount": 48600, "frequency": "quarterly"}
    assert data["updated_at"] == datetime(2024, 5, 2, 6, 15, tzinfo=timezone.utc)
    assert data["policyholder"]["customer_id"] == "C-0000421"
    assert data["policyholder"]["birth_date"].isoformat() == "1985-07-14"


def test_policy_upserted_unknown_fields_are_ignored():
    event = copy.deepcopy(example_of("policy.upserted"))
    event["channel_of_sale"] = "broker"                        # additive change in v1, top level
    event["premium"]["currency"] = "HUF"                        # ... nested
    event["policyholder"]["tax_number"] = "8123456789"
    assert errors("policy.upserted", event) == []
    data = PolicyUpsertedSchema().load(event)
    assert "channel_of_sale" not in data and "currency" not in data["premium"]
    assert "tax_number" not in data["policyholder"]


def test_policy_upserted_without_optional_contact_data_loads():
    event = copy.deepcopy(example_of("policy.upserted"))
    del event["policyholder"]["email"], event["policyholder"]["mobile"]
    holder = PolicyUpsertedSchema().load(event)["policyholder"]
    assert holder["email"] is None and holder["mobile"] is None


def test_policy_upserted_example_is_applied_by_the_worker_handler(sqlite_wiring):
    apply_upserted(sqlite_wiring, example_of("policy.upserted"))
    policy, holder = handlers.get_policy(sqlite_wiring.uow(), "KGFB-2024-000123")
    assert (policy.product, policy.payment_method, policy.premium_amount) == ("kgfb", "cheque", 48600)
    assert policy.updated_at == datetime(2024, 5, 2, 6, 15, tzinfo=timezone.utc)
    assert (holder.name, holder.mother_name) == ("Minta Anna", "Teszt Mária")


def test_the_worker_handler_ignores_an_older_message(sqlite_wiring):
    newer = example_of("policy.upserted")
    older = upserted(newer["policy_number"], "direct_debit", status="terminated",
                     updated_at="2024-05-01T08:15:00+02:00")
    apply_upserted(sqlite_wiring, newer)
    apply_upserted(sqlite_wiring, older)
    policy, _ = handlers.get_policy(sqlite_wiring.uow(), newer["policy_number"])
    assert (policy.status, policy.payment_method) == ("active", "cheque")


# -------------------------------------------------------------------------------------------------------- HTTP
def test_the_committed_openapi_document_is_current():
    committed = (CONTRACTS / openapi.SPEC.output).read_text(encoding="utf-8")
    assert committed == openapi.SPEC.render(), "run: .venv/bin/python -m policies.entrypoints.openapi"


def test_the_openapi_document_covers_every_route_of_the_api():
    from policies.entrypoints.api import bp

    documented = {(path, method.upper()) for path, ops in openapi.build()["paths"].items()
                  for method in ops if method != "parameters"}
    routes = {(rule.rule.replace("<", "{").replace(">", "}"), method)
              for rule in _rules(bp) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented


def _rules(blueprint):
    from flask import Flask

    app = Flask("probe")
    app.register_blueprint(blueprint)
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith(blueprint.name + ".")]
