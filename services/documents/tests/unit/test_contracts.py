"""Producer side: what this service emits validates against contracts/; consumer side: the examples of what it
consumes load through its schemas."""
import json
from datetime import datetime, timezone

import jsonschema
import pytest

from documents import bootstrap
from documents.domain import model
from documents.entrypoints import openapi, schemas
from portal_common import config

EVENTS = config.contracts_dir() / "events"


def _schema(name):
    return json.loads((EVENTS / f"{name}.v1.json").read_text())


def _received() -> model.Document:
    return model.Document.receive(
        document_id="3f6c2a9e-8b1d-4c7a-9e52-1d0b7a4f6c21", customer_id="C-1", policy_number="KGFB-1",
        doc_type="claim_letter", title="Kárügyi levél", content_type="application/pdf", size=10, sha256="a" * 64,
        bucket="portal-documents", key="customers/C-1/x.pdf",
        uploaded_at=datetime(2026, 1, 31, 9, 0, tzinfo=timezone.utc), now=datetime(2026, 2, 1, tzinfo=timezone.utc))


def test_document_available_payload_validates():
    doc = _received()
    [event] = doc.events
    name, payload = event.name, event.payload()
    validator = jsonschema.Draft202012Validator(_schema(name), format_checker=jsonschema.FormatChecker())
    validator.validate(json.loads(json.dumps(payload)))
    assert payload["available_until"] == "2027-02-28T09:00:00+00:00"


def test_document_read_payload_validates():
    doc = _received()
    doc.events.clear()
    doc.opened(datetime(2026, 2, 3, 8, 30, tzinfo=timezone.utc), model.DOWNLOAD)
    [event, _recorded] = doc.events
    assert event.name == "document.read"
    validator = jsonschema.Draft202012Validator(_schema(event.name), format_checker=jsonschema.FormatChecker())
    validator.validate(json.loads(json.dumps(event.payload())))
    assert event.payload() == {"document_id": doc.document_id, "customer_id": "C-1",
                               "read_at": "2026-02-03T08:30:00+00:00"}


@pytest.mark.parametrize("change, what", [
    (lambda doc, at: doc.opened(at, model.VIEW), "viewed"),
    (lambda doc, at: doc.opened(at, model.DOWNLOAD), "downloaded"),
    (lambda doc, at: doc.announced(at), "announced"),
    (lambda doc, at: doc.remind(at), "reminded"),
])
def test_document_delivery_recorded_payload_validates(change, what):
    doc = _received()
    doc.events.clear()
    change(doc, datetime(2026, 2, 3, 8, 30, tzinfo=timezone.utc))
    [event] = [e for e in doc.events if e.name == "document.delivery_recorded"]
    validator = jsonschema.Draft202012Validator(_schema(event.name), format_checker=jsonschema.FormatChecker())
    validator.validate(json.loads(json.dumps(event.payload())))
    # whom and what only: no title, no content, no address
    assert event.payload() == {"document_id": doc.document_id, "customer_id": "C-1", "what": what,
                               "happened_at": "2026-02-03T08:30:00+00:00"}


def test_document_available_example_validates():
    jsonschema.Draft202012Validator(_schema("document.available")).validate(
        json.loads((EVENTS / "examples" / "document.available.v1.json").read_text()))


@pytest.mark.parametrize("event, schema", [
    ("document.uploaded", schemas.DocumentUploadedSchema),
    ("policy.upserted", schemas.PolicyUpsertedSchema),
    ("account.activated", schemas.AccountActivatedSchema),
    ("account.closed", schemas.AccountClosedSchema),
])
def test_consumed_examples_load(event, schema):
    path = EVENTS / "examples" / f"{event}.v1.json"
    if not path.exists():
        pytest.skip(f"{path.name} is not in contracts/ yet (its producer adds it)")
    data = schema().load(json.loads(path.read_text()))
    assert data["customer_id" if "customer_id" in data else "policyholder"]


def test_a_handler_for_every_bound_event():
    topology = json.loads((config.contracts_dir() / "topology.json").read_text())
    assert set(bootstrap.EVENTS) == set(topology["services"]["documents"]["bindings"])


def test_committed_openapi_document_is_current():
    committed = (config.contracts_dir() / openapi.SPEC.output).read_text(encoding="utf-8")
    assert committed == openapi.SPEC.render(), "run: .venv/bin/python -m documents.entrypoints.openapi"


@pytest.mark.parametrize("content_type", ["image/svg+xml", "text/html", "application/octet-stream",
                                          "application/pdf; charset=utf-8", "APPLICATION/PDF"])
def test_the_contract_and_the_consumer_accept_only_application_pdf(content_type):
    example = json.loads((EVENTS / "examples" / "document.uploaded.v1.json").read_text())
    assert schemas.DocumentUploadedSchema().validate(example) == {}
    forged = {**example, "content_type": content_type}
    assert "content_type" in schemas.DocumentUploadedSchema().validate(forged)
    errors = list(jsonschema.Draft202012Validator(_schema("document.uploaded")).iter_errors(forged))
    assert [list(e.path) for e in errors] == [["content_type"]]
