"""Every event schema in contracts/events is a valid draft 2020-12 schema with a valid example.

Parametrized over the files on disk, so schemas added later are covered without touching this file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

EVENTS_DIR = Path(__file__).resolve().parents[2] / "contracts" / "events"
EXAMPLES_DIR = EVENTS_DIR / "examples"

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
FILE_NAME = re.compile(r"^(?P<event>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\.v(?P<version>[1-9][0-9]*)\.json$")
EXTERNAL_EVENTS = ("policy.upserted", "document.uploaded")

SCHEMAS = sorted(EVENTS_DIR.glob("*.json"))
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def schema_errors(instance, schema) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(instance)]


def test_the_external_event_schemas_exist():
    for event in EXTERNAL_EVENTS:
        assert (EVENTS_DIR / f"{event}.v1.json").is_file()


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: path.name)
def test_schema_file_is_named_event_dot_version(path):
    assert FILE_NAME.match(path.name), f"{path.name}: expected <event name>.v<N>.json, e.g. policy.upserted.v1.json"


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: path.name)
def test_schema_is_a_valid_draft_2020_12_object_schema(path):
    schema = load_json(path)
    assert schema.get("$schema") == DRAFT_2020_12, f"{path.name}: set \"$schema\": \"{DRAFT_2020_12}\""
    Draft202012Validator.check_schema(schema)
    assert schema.get("type") == "object", f"{path.name}: an event is a JSON object"
    assert schema.get("additionalProperties", True) is not False, (
        f"{path.name}: top-level additionalProperties must stay open (additive changes within a version)"
    )


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: path.name)
def test_schema_has_an_example_that_validates(path, publish_module):
    example_path = EXAMPLES_DIR / path.name
    assert example_path.is_file(), f"{path.name} has no example: add events/examples/{path.name}"
    schema, example = load_json(path), load_json(example_path)
    assert schema_errors(example, schema) == []
    # publish.py's own format checks (date-time too, which plain jsonschema checks only with rfc3339-validator)
    assert [str(issue) for issue in publish_module.validate(example, schema)] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_belongs_to_a_schema(path):
    assert (EVENTS_DIR / path.name).is_file(), f"example {path.name} has no schema events/{path.name}"
