"""OpenAPI 3 document of the internal API. ``python -m policies.entrypoints.openapi`` writes
``contracts/http/policies.openapi.json``; a test checks the committed file equals :func:`build`."""
from __future__ import annotations

from portal_common import openapi
from portal_common.openapi import error as _err, json_body as _body, json_response as _json, path_param as _path_param

from . import schemas

SCHEMAS = {
    "Policyholder": schemas.PolicyholderOutSchema, "Policy": schemas.PolicyOutSchema,
    "PolicyDetail": schemas.PolicyDetailSchema, "Policies": schemas.PoliciesOutSchema,
    "MatchRequest": schemas.MatchRequestSchema, "MatchResponse": schemas.MatchResponseSchema,
    "EnrolRequest": schemas.EnrolRequestSchema, "Error": schemas.ErrorSchema,
}


UNAUTHORIZED = _err("unauthorized: missing or wrong X-Service-Token")


def build() -> dict:
    spec = openapi.service_spec("policies (internal API)",
                                "Policy and policyholder master data (from the core system's policy.upserted), "
                                "identification of policyholders, ePosta enrolment. Every call needs the "
                                "X-Service-Token header.", every_route=True)
    # Nested schemas (MatchResponse.policies, PolicyDetail.policyholder) resolve to these names.
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema=schema)

    policy_number = _path_param("policy_number", "policy number as issued by the core system")
    spec.path("/internal/policies/{policy_number}", parameters=[policy_number], operations={"get": {
        "summary": "A policy with its holder",
        "responses": {"200": _json("PolicyDetail", "The policy"), "401": UNAUTHORIZED,
                      "404": _err("not_found")}}})
    spec.path("/internal/customers/{customer_id}/policies",
              parameters=[_path_param("customer_id", "customer (partner) id in the core system")],
              operations={"get": {
                  "summary": "Every policy of a customer, by policy number (an unknown customer has none)",
                  "responses": {"200": _json("Policies", "The customer's policies"), "401": UNAUTHORIZED}}})
    spec.path("/internal/policyholders/match", operations={"post": {
        "summary": "Identify a policyholder by policy number and natural identification data",
        "description": "Case and extra spaces are ignored, accents are not. An unknown policy and wrong data get "
                       "the same 404 answer, which never says which item failed.",
        "requestBody": _body("MatchRequest"),
        "responses": {"200": _json("MatchResponse", "Identified"), "401": UNAUTHORIZED,
                      "404": _err("no_match"), "422": _err("invalid (fields)")}}})
    spec.path("/internal/policies/{policy_number}/epost", parameters=[policy_number], operations={"post": {
        "summary": "Enrol the customer's policy into ePosta (cheque -> bank transfer); publishes policy.enrolled",
        "description": "Idempotent: enrolling an enrolled policy answers 200 and publishes nothing.",
        "requestBody": _body("EnrolRequest"),
        "responses": {"200": _json("Policy", "Enrolled"), "401": UNAUTHORIZED,
                      "404": _err("not_found (also another customer's policy)"),
                      "409": _err("conflict: not active or not an eligible product"),
                      "422": _err("invalid (fields)")}}})
    return spec.to_dict()


SPEC = openapi.ServiceDocument("policies", build)

if __name__ == "__main__":
    SPEC.main()
