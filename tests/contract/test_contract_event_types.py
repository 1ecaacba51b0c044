"""Each event is defined once on the wire (contracts/events/<name>.v1.json); the code's types must agree with it.

- every typed event a service publishes (``IntegrationEvent`` subclasses in ``<service>/domain/events.py``) sends
  only properties the schema knows, every property the schema requires, with the schema's JSON types;
- every consumer schema (the ``Route.schema`` of each service's ``EVENTS`` table) reads only properties the schema
  knows, with compatible types, and requires nothing the schema leaves optional (the producer may omit it), nested
  objects included.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import types
import typing
from datetime import date, datetime
from pathlib import Path

import pytest
from marshmallow import fields

from portal_common.events import IntegrationEvent

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "events"
SERVICES = ["identity", "policies", "documents", "notify"]


def schema_of(event: str, version: int = 1) -> dict:
    return json.loads((CONTRACTS / f"{event}.v{version}.json").read_text(encoding="utf-8"))


def json_types(prop: dict) -> set[str]:
    kind = prop.get("type")
    if kind is None and "enum" in prop:
        return {type(v).__name__.replace("str", "string") for v in prop["enum"]}
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def event_classes() -> list[type[IntegrationEvent]]:
    found = []
    for service in SERVICES:
        try:
            module = importlib.import_module(f"{service}.domain.events")
        except ModuleNotFoundError:
            continue
        found += [c for c in vars(module).values()
                  if isinstance(c, type) and issubclass(c, IntegrationEvent) and c is not IntegrationEvent]
    return found


PYTHON_TO_JSON = {str: {"string"}, int: {"integer"}, bool: {"boolean"}, datetime: {"string"}, date: {"string"},
                  dict: {"object"}, list: {"array"}}


@pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.name)
def test_a_typed_event_sends_what_its_contract_defines(cls):
    schema = schema_of(cls.name, cls.version)
    hints = typing.get_type_hints(cls)
    wire = {cls.wire_names.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}  # wire name -> attribute
    names = set(wire)
    assert names <= set(schema["properties"]), f"{cls.__name__} sends fields the contract does not know"
    assert set(schema.get("required", [])) <= names, f"{cls.__name__} lacks required fields"
    assert set(cls.secret_fields) <= names, f"{cls.__name__} blanks fields it does not send"
    for name in names:
        hint, prop = hints[wire[name]], schema["properties"][name]
        is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        options = [a for a in typing.get_args(hint) if a is not type(None)] if is_union else [hint]
        allowed = set().union(*(PYTHON_TO_JSON.get(typing.get_origin(o) or o, {"?"}) for o in options))
        assert allowed & (json_types(prop) or allowed), (cls.__name__, name)
        if is_union and type(None) in typing.get_args(hint):  # None is sent as null unless the class omits it
            assert "null" in json_types(prop) or name not in schema.get("required", []), (cls.__name__, name)


MARSHMALLOW_TO_JSON = [
    (fields.Nested, "object"), (fields.List, "array"), (fields.Boolean, "boolean"), (fields.Integer, "integer"),
    (fields.Float, "number"), (fields.Date, "string"), (fields.DateTime, "string"), (fields.UUID, "string"),
    (fields.Email, "string"), (fields.String, "string"), (fields.Dict, "object"),
]


def check_fields(schema_fields: dict, contract: dict, where: str) -> None:
    properties, required = contract.get("properties", {}), set(contract.get("required", []))
    for name, field in schema_fields.items():
        key = field.data_key or name
        assert key in properties, f"{where}: reads {key!r}, which the contract does not define"
        expected = next(kind for cls, kind in MARSHMALLOW_TO_JSON if isinstance(field, cls))
        assert expected in json_types(properties[key]) or not json_types(properties[key]), (where, key)
        if field.required:
            assert key in required, f"{where}: requires {key!r}, which the contract lets a producer omit"
        if isinstance(field, fields.Nested):
            check_fields(field.schema.fields, properties[key], f"{where}.{key}")


def routes() -> list[tuple[str, str, object]]:
    found = []
    for service in SERVICES:
        bootstrap = importlib.import_module(f"{service}.bootstrap")
        found += [(service, event, route) for event, route in bootstrap.EVENTS.items()]
    return found


@pytest.mark.parametrize("service, event, route", routes(), ids=lambda x: x if isinstance(x, str) else "")
def test_a_consumer_schema_reads_only_what_the_contract_defines(service, event, route):
    schema = route.schema() if isinstance(route.schema, type) else route.schema
    for version in route.versions:  # every version the route accepts
        check_fields(schema.fields, schema_of(event, version), f"{service}:{event}.v{version}")


def test_every_service_publishes_typed_events():
    assert {c.name for c in event_classes()} >= {"document.available", "policy.enrolled", "notification.failed",
                                                  "account.activated", "customer.callback_requested"}


def test_identity_publishes_the_sealed_v2_events():
    """Issue 8: these carry their secret sealed for notify (v2), never the v1 field in clear."""
    identity = {c.name: c for c in event_classes() if c.__module__ == "identity.domain.events"}
    sealed = {"account.activation_requested": "activation_url_sealed", "account.activated": None,
              "account.credentials_reset": "one_time_password_sealed",
              "account.email_change_requested": "confirm_url_sealed", "account.mobile_change_requested": "code_sealed"}
    for event, field in sealed.items():
        assert identity[event].version == 2, event
        assert identity[event].secret_fields == ((field,) if field else ()), event
    assert identity["account.initial_password_issued"].secret_fields == ("initial_password_sealed",)
