"""The internal API as an OpenAPI 3 document: ``python -m notify.entrypoints.openapi > contracts/http/notify.openapi.json``."""
from __future__ import annotations

import json

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from . import schemas


def build() -> dict:
    spec = APISpec(title="notify (internal)", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Deliveries of the notify service. Every call needs X-Service-Token."})
    spec.components.security_scheme("serviceToken", {"type": "apiKey", "in": "header", "name": "X-Service-Token"})
    spec.components.schema("Delivery", schema=schemas.DeliveryOutSchema)
    spec.components.schema("Deliveries", schema=schemas.DeliveriesOutSchema)
    spec.components.schema("Error", schema=schemas.ErrorSchema)
    spec.path(path="/internal/deliveries", operations={"get": {
        "summary": "Deliveries, newest first (never the message text)",
        "security": [{"serviceToken": []}],
        "parameters": [{"in": "query", "schema": schemas.DeliveriesQuerySchema}],
        "responses": {
            "200": {"description": "the deliveries", "content": {"application/json": {"schema": "Deliveries"}}},
            "401": {"description": "missing or wrong X-Service-Token",
                    "content": {"application/json": {"schema": "Error"}}},
            "422": {"description": "invalid query", "content": {"application/json": {"schema": "Error"}}},
        },
    }})
    return spec.to_dict()


def main() -> None:
    print(json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
