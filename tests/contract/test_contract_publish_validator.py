"""publish.py's validation (jsonschema with publish.py's own format checks): the examples pass, broken variants
fail at the expected (JSON path, keyword) pairs — the same as plain jsonschema wherever it checks the format too."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

EVENTS_DIR = Path(__file__).resolve().parents[2] / "contracts" / "events"


def load(event: str, folder: Path = EVENTS_DIR) -> dict:
    return json.loads((folder / f"{event}.v1.json").read_text(encoding="utf-8"))


def example(event: str) -> dict:
    return load(event, EVENTS_DIR / "examples")


def variant(event: str, change) -> dict:
    message = copy.deepcopy(example(event))
    change(message)
    return message


def setter(path: str, value):
    """setter("premium.amount", -1) sets message["premium"]["amount"] = -1."""
    *parents, last = path.split(".")

    def change(message):
        for part in parents:
            message = message[part]
        message[last] = value

    return change


def deleter(path: str):
    *parents, last = path.split(".")

    def change(message):
        for part in parents:
            message = message[part]
        del message[last]

    return change


# (id, event, change, expected (path, keyword) pairs, formats that plain jsonschema must support to agree)
BROKEN = [
    ("policy-missing-policy_number", "policy.upserted", deleter("policy_number"), {("$", "required")}, ()),
    ("policy-missing-mother_name", "policy.upserted", deleter("policyholder.mother_name"),
     {("$.policyholder", "required")}, ()),
    ("policy-wrong-product", "policy.upserted", setter("product", "life"), {("$.product", "enum")}, ()),
    ("policy-wrong-frequency", "policy.upserted", setter("premium.frequency", "weekly"),
     {("$.premium.frequency", "enum")}, ()),
    ("policy-bad-start_date", "policy.upserted", setter("start_date", "2024-02-30"), {("$.start_date", "format")}, ()),
    ("policy-bad-birth_date", "policy.upserted", setter("policyholder.birth_date", "1985.07.14"),
     {("$.policyholder.birth_date", "format")}, ()),
    ("policy-negative-amount", "policy.upserted", setter("premium.amount", -1), {("$.premium.amount", "minimum")}, ()),
    ("policy-string-amount", "policy.upserted", setter("premium.amount", "48600"), {("$.premium.amount", "type")}, ()),
    ("policy-boolean-amount", "policy.upserted", setter("premium.amount", True), {("$.premium.amount", "type")}, ()),
    ("policy-fraction-amount", "policy.upserted", setter("premium.amount", 100.5), {("$.premium.amount", "type")}, ()),
    ("policy-bad-mobile", "policy.upserted", setter("policyholder.mobile", "06 30 123 4567"),
     {("$.policyholder.mobile", "pattern")}, ()),
    ("policy-bad-email", "policy.upserted", setter("policyholder.email", "minta.anna"),
     {("$.policyholder.email", "format")}, ()),
    ("policy-null-email", "policy.upserted", setter("policyholder.email", None),
     {("$.policyholder.email", "type")}, ()),
    ("policy-empty-name", "policy.upserted", setter("policyholder.name", ""),
     {("$.policyholder.name", "minLength")}, ()),
    ("policy-bad-updated_at", "policy.upserted", setter("updated_at", "2024-05-02 08:15"),
     {("$.updated_at", "format")}, ("date-time",)),
    ("policy-policyholder-not-object", "policy.upserted", setter("policyholder", "Minta Anna"),
     {("$.policyholder", "type")}, ()),
    ("doc-missing-sha256", "document.uploaded", deleter("sha256"), {("$", "required")}, ()),
    ("doc-wrong-doc_type", "document.uploaded", setter("doc_type", "invoice"), {("$.doc_type", "enum")}, ()),
    ("doc-uppercase-sha256", "document.uploaded", setter("sha256", "A" * 64), {("$.sha256", "pattern")}, ()),
    ("doc-short-sha256", "document.uploaded", setter("sha256", "ab12"), {("$.sha256", "pattern")}, ()),
    ("doc-zero-size", "document.uploaded", setter("size", 0), {("$.size", "minimum")}, ()),
    ("doc-long-title", "document.uploaded", setter("title", "x" * 201), {("$.title", "maxLength")}, ()),
    ("doc-bad-document_id", "document.uploaded", setter("document_id", "123"), {("$.document_id", "format")}, ()),
    ("doc-bad-uploaded_at", "document.uploaded", setter("uploaded_at", "2024-06-20T25:00:00Z"),
     {("$.uploaded_at", "format")}, ("date-time",)),
    ("doc-not-an-object", "document.uploaded", lambda message: message.clear(), None, ()),
]
EXAMPLES = [path.name.rsplit(".v", 1)[0] for path in sorted((EVENTS_DIR / "examples").glob("*.json"))]


def via_publish(publish_module, instance, schema) -> set:
    return {(issue.path, issue.keyword) for issue in publish_module.validate(instance, schema)}


def via_plain_jsonschema(instance, schema) -> set:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return {(error.json_path, error.validator) for error in validator.iter_errors(instance)}


@pytest.mark.parametrize("event", EXAMPLES)
def test_examples_are_valid(publish_module, event):
    schema, message = load(event), example(event)
    assert via_publish(publish_module, message, schema) == via_plain_jsonschema(message, schema) == set()


@pytest.mark.parametrize("case_id, event, change, expected, formats", BROKEN, ids=[case[0] for case in BROKEN])
def test_broken_variants_fail_where_expected(publish_module, case_id, event, change, expected, formats):
    found = via_publish(publish_module, variant(event, change), load(event))
    if expected is not None:
        assert found == expected
    else:
        assert found, "expected errors"


@pytest.mark.parametrize("case_id, event, change, expected, formats", BROKEN, ids=[case[0] for case in BROKEN])
def test_broken_variants_agree_with_plain_jsonschema(publish_module, case_id, event, change, expected, formats):
    unsupported = [name for name in formats if name not in Draft202012Validator.FORMAT_CHECKER.checkers]
    if unsupported:
        pytest.skip(f"this jsonschema checks no {unsupported} format (pip install rfc3339-validator)")
    schema, message = load(event), variant(event, change)
    assert via_publish(publish_module, message, schema) == via_plain_jsonschema(message, schema)


def test_several_errors_are_all_reported(publish_module):
    message = variant("policy.upserted", lambda m: (setter("premium.amount", -5)(m), deleter("status")(m)))
    schema = load("policy.upserted")
    assert via_publish(publish_module, message, schema) == {("$", "required"), ("$.premium.amount", "minimum")}


def test_unknown_fields_are_accepted(publish_module):
    message = variant("policy.upserted", setter("agent_code", "A-17"))
    assert publish_module.validate(message, load("policy.upserted")) == []


def test_local_refs_are_resolved(publish_module):
    schema = {"$defs": {"amount": {"type": "integer", "minimum": 0}}, "properties": {"a": {"$ref": "#/$defs/amount"}}}
    assert via_publish(publish_module, {"a": -1}, schema) == {("$.a", "minimum")}
    assert via_publish(publish_module, {"a": 1}, schema) == set()
