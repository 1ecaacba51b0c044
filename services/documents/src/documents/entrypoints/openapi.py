"""OpenAPI 3 document of the internal API. ``python -m documents.entrypoints.openapi`` writes
``contracts/http/documents.openapi.json``; a test checks the committed file equals :func:`build`."""
from __future__ import annotations

from portal_common import openapi
from portal_common.openapi import SECURITY, error as _error, json_response, path_param

from . import schemas


def _params(names_in_path: list[str]) -> list[dict]:
    return [path_param(n) for n in names_in_path]


def build() -> dict:
    spec = openapi.service_spec("documents (internal API)",
                                "Electronic documents of a customer. Every route requires the header "
                                "X-Service-Token. Another customer's document and every document of a "
                                "customer whose registration is closed answer 404.", every_route=False)
    spec.components.schema("Document", schema=schemas.DocumentOutSchema)
    spec.components.schema("DocumentList", schema=schemas.DocumentListSchema)
    spec.components.schema("Error", schema=schemas.ErrorSchema)
    base = "/internal/customers/{customer_id}/documents"
    spec.path(path=base, operations={"get": {
        "summary": "One page of the customer's documents, newest first, with the unread count and the total",
        "security": SECURITY,
        "parameters": _params(["customer_id"]) + [{"in": "query", "schema": schemas.DocumentListQuerySchema}],
        "responses": {"200": json_response("DocumentList", "documents"),
                      "404": _error("registration closed"), "422": _error("invalid query")},
    }})
    spec.path(path=base + "/{document_id}", operations={"get": {
        "summary": "One document's metadata", "security": SECURITY,
        "parameters": _params(["customer_id", "document_id"]),
        "responses": {"200": json_response("Document", "the document"),
                      "404": _error("no such document for this customer")},
    }})
    spec.path(path=base + "/{document_id}/content", operations={"get": {
        "summary": "The document's bytes, streamed; marks it read and writes the delivery record",
        "security": SECURITY,
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
        "summary": "Operators: every stored document of the customer with its delivery record", "security": SECURITY,
        "parameters": _params(["customer_id"]),
        "responses": {"200": {"description": "{customer_id, documents: [Document]}",
                              "content": {"application/json": {"schema": "DocumentList"}}}},
    }})
    spec.path(path=base + "/{document_id}/read", operations={"post": {
        "summary": "Mark the document read", "security": SECURITY,
        "parameters": _params(["customer_id", "document_id"]),
        "responses": {"204": {"description": "marked"}, "404": _error("no such document for this customer")},
    }})
    return spec.to_dict()


SPEC = openapi.ServiceDocument("documents", build)

if __name__ == "__main__":
    SPEC.main()
