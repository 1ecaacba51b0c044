"""The OpenAPI scaffold every internal API builds its document on (portal_common.openapi)."""
from __future__ import annotations

import json

from portal_common import openapi


def build() -> dict:
    spec = openapi.service_spec("demo (internal API)", "Every call needs X-Service-Token.", every_route=True)
    spec.path("/internal/things/{thing_id}", parameters=[openapi.path_param("thing_id", "the thing")],
              operations={"put": {"requestBody": openapi.json_body("Thing"),
                                  "responses": {"200": openapi.json_response("Thing", "stored"),
                                                "404": openapi.error("not_found")}}})
    return spec.to_dict()


def test_the_document_names_the_service_token_for_every_route_or_leaves_it_to_each_operation():
    everywhere = openapi.service_spec("a", "b", every_route=True).to_dict()
    per_route = openapi.service_spec("a", "b", every_route=False).to_dict()
    scheme = {"serviceToken": {"type": "apiKey", "in": "header", "name": "X-Service-Token"}}
    assert everywhere["components"]["securitySchemes"] == per_route["components"]["securitySchemes"] == scheme
    assert everywhere["security"] == [{"serviceToken": []}] and "security" not in per_route
    assert everywhere["openapi"] == "3.0.3" and everywhere["info"] == {"title": "a", "version": "1.0.0",
                                                                      "description": "b"}


def test_the_document_is_written_sorted_and_readable_where_the_contracts_live(tmp_path):
    doc = openapi.ServiceDocument("demo", build)
    path = doc.write(tmp_path)
    assert path == tmp_path / "http" / "demo.openapi.json" and doc.output == "http/demo.openapi.json"
    text = path.read_text(encoding="utf-8")
    assert text == doc.render() and text.endswith("}\n") and json.loads(text) == build()
    assert list(json.loads(text)) == sorted(json.loads(text))
    operation = json.loads(text)["paths"]["/internal/things/{thing_id}"]
    assert operation["parameters"] == [{"name": "thing_id", "in": "path", "required": True,
                                        "schema": {"type": "string"}, "description": "the thing"}]
    assert operation["put"]["responses"]["404"] == {"description": "not_found",
                                                    "content": {"application/json": {"schema": {
                                                        "$ref": "#/components/schemas/Error"}}}}
