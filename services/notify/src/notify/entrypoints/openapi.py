"""OpenAPI 3 document of the internal API. ``python -m notify.entrypoints.openapi`` writes
``contracts/http/notify.openapi.json``; a test checks the committed file equals :func:`build`."""
from __future__ import annotations

from portal_common import openapi
from portal_common.openapi import SECURITY, error, json_response

from . import schemas


def build() -> dict:
    spec = openapi.service_spec("notify (internal)", "Deliveries of the notify service. Every call needs "
                                "X-Service-Token.", every_route=False)
    spec.components.schema("Delivery", schema=schemas.DeliveryOutSchema)
    spec.components.schema("Deliveries", schema=schemas.DeliveriesOutSchema)
    spec.components.schema("Error", schema=schemas.ErrorSchema)
    spec.path(path="/internal/deliveries", operations={"get": {
        "summary": "Deliveries, newest first (never the message text)",
        "security": SECURITY,
        "parameters": [{"in": "query", "schema": schemas.DeliveriesQuerySchema}],
        "responses": {"200": json_response("Deliveries", "the deliveries"),
                      "401": error("missing or wrong X-Service-Token"), "422": error("invalid query")},
    }})
    return spec.to_dict()


SPEC = openapi.ServiceDocument("notify", build)

if __name__ == "__main__":
    SPEC.main()
