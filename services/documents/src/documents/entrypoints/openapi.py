"""OpenAPI 3 document of the internal API. ``python -m documents.entrypoints.openapi`` writes
``contracts/http/documents.openapi.json``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from portal_common import config

from . import schemas

TARGET = "documents.openapi.json"


def _params(names_in_path: list[str]) -> list[dict]:
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names_in_path]


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": "Error"}}}


def build() -> dict:
    spec = APISpec(title="documents (internal API)", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Electronic documents of a customer. Every route requires the header "
                                        "X-Service-Token. Another customer's document and every document of a "
                                        "customer whose registration is closed answer 404."})
    spec.components.security_scheme("serviceToken", {"type": "apiKey", "in": "header", "name": "X-Service-Token"})
    spec.components.schema("Document", schema=schemas.DocumentOutSchema)
    spec.components.schema("DocumentList", schema=schemas.DocumentListSchema)
    spec.components.schema("Error", schema=schemas.ErrorSchema)
    security = [{"serviceToken": []}]
    base = "/internal/customers/{customer_id}/documents"
    spec.path(path=base, operations={"get": {
        "summary": "One page of the customer's documents, newest first, with the unread count and the total",
        "security": security,
        "parameters": _params(["customer_id"]) + [{"in": "query", "schema": schemas.DocumentListQuerySchema}],
        "responses": {"200": {"description": "documents", "content": {"application/json": {"schema": "DocumentList"}}},
                      "404": _error("registration closed"), "422": _error("invalid query")},
    }})
    spec.path(path=base + "/{document_id}", operations={"get": {
        "summary": "One document's metadata", "security": security,
        "parameters": _params(["customer_id", "document_id"]),
        "responses": {"200": {"description": "the document", "content": {"application/json": {"schema": "Document"}}},
                      "404": _error("no such document for this customer")},
    }})
    spec.path(path=base + "/{document_id}/content", operations={"get": {
        "summary": "The document's bytes, streamed; marks it read and writes the delivery record",
        "security": security,
        "parameters": _params(["customer_id", "document_id"]) + [{"in": "query", "schema": schemas.ContentQuerySchema}],
        "responses": {
            "200": {"description": "the original bytes",
                    "headers": {"X-Document-SHA256": {"schema": {"type": "string"},
                                                      "description": "SHA-256 of the bytes (hex)"},
                                "Content-Length": {"schema": {"type": "integer"}}},
                    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
            "404": _error("no such document for this customer"),
            "410": _error("expired: past its 13-month window ({\"error\": \"expired\"})"),
            "422": _error("invalid purpose"),
        },
    }})
    spec.path(path="/internal/customers/{customer_id}/delivery-records", operations={"get": {
        "summary": "Operators: every stored document of the customer with its delivery record", "security": security,
        "parameters": _params(["customer_id"]),
        "responses": {"200": {"description": "{customer_id, documents: [Document]}",
                              "content": {"application/json": {"schema": "DocumentList"}}}},
    }})
    spec.path(path=base + "/{document_id}/read", operations={"post": {
        "summary": "Mark the document read", "security": security,
        "parameters": _params(["customer_id", "document_id"]),
        "responses": {"204": {"description": "marked"}, "404": _error("no such document for this customer")},
    }})
    return spec.to_dict()


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> int:
    path = Path(config.contracts_dir()) / "http" / TARGET
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
