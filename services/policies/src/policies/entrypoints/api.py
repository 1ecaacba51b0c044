"""Internal HTTP API of the policies service: the gateway calls it, and identity calls ``/policyholders/match``."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request

from portal_common.db import ping
from portal_common.callers import GATEWAY, IDENTITY
from portal_common.web import for_callers, service_app

from .. import SERVICE
from ..bootstrap import Wiring, bootstrap
from ..domain import commands, model
from ..service_layer import handlers
from . import schemas

bp = Blueprint("policies", __name__, url_prefix="/internal")


def _wiring() -> Wiring:
    return current_app.extensions["policies"]


_POLICYHOLDER_OUT = schemas.PolicyholderOutSchema()  # one instance: building a schema costs more than a dump


def policy_json(policy) -> dict:
    """A policy as :class:`schemas.PolicyOutSchema` describes it, built by hand: every ``/home`` lists the customer's
    policies, and marshmallow's per-field dump cost more than the query. The schema stays the contract (the OpenAPI
    document is made from it); ``test_policy_json_is_what_the_schema_dumps`` holds this function to it."""
    return {
        "policy_number": policy.policy_number, "product": policy.product, "status": policy.status,
        "payment_method": policy.payment_method,
        "premium": {"amount": policy.premium_amount, "frequency": policy.premium_frequency},
        "start_date": policy.start_date.isoformat(), "customer_id": policy.customer_id, "epost": policy.epost,
        "enrollable": policy.enrollable, "qualifies_for_registration": policy.qualifies_for_registration,
        "updated_at": policy.updated_at.isoformat(),
    }


def _policy_json(policy, holder=None) -> dict:
    data = policy_json(policy)
    if holder is not None:
        data["policyholder"] = _POLICYHOLDER_OUT.dump(holder)
    return data


@bp.get("/policies/<policy_number>")
def get_policy(policy_number: str):
    """A policy with its holder. 404 when unknown."""
    try:
        policy, holder = _wiring().bus.handle(handlers.get_policy, policy_number)
    except handlers.PolicyNotFound:
        abort(404, description=f"no policy {policy_number}")
    return jsonify(_policy_json(policy, holder))


@bp.get("/customers/<customer_id>/policies")
def customer_policies(customer_id: str):
    """Every policy of a customer: ``{"policies": [...]}``."""
    policies = _wiring().bus.handle(handlers.policies_of, customer_id)
    return jsonify(policies=[_policy_json(p) for p in policies])


@bp.post("/policyholders/match")
@for_callers(IDENTITY)  # identification at registration and declaration; the gateway goes through identity
def match_policyholder():
    """Identify a policyholder by policy number + natural identification data (registration, declaration).

    200 ``{"customer_id": "C-1001", "email": ..., "mobile": ..., "may_register": true, "policies": [...]}``;
    404 ``{"error": "no_match"}`` without saying which item failed.
    """
    args = schemas.MatchRequestSchema().load(request.get_json(force=True, silent=True) or {})
    found = _wiring().bus.handle(handlers.match_policyholder, **args)
    if found is None:
        return jsonify(error="no_match"), 404
    holder, policies = found
    return jsonify(schemas.MatchResponseSchema().dump({
        "customer_id": holder.customer_id, "email": holder.email, "mobile": holder.mobile,
        "may_register": any(p.qualifies_for_registration for p in policies), "policies": policies,
    }))


@bp.post("/policies/<policy_number>/epost")
def enrol_policy(policy_number: str):
    """Enrol a policy into ePosta; a cheque-paid policy switches to bank transfer. Publishes ``policy.enrolled``.

    Body ``{"customer_id": "C-1001"}``. 404 when the policy is not the customer's; 409 when not enrollable.
    """
    args = schemas.EnrolRequestSchema().load(request.get_json(force=True, silent=True) or {})
    try:
        policy = _wiring().bus.handle(handlers.enrol_policy, commands.EnrolPolicy(policy_number, args["customer_id"]))
    except handlers.PolicyNotFound:
        abort(404, description=f"no policy {policy_number}")
    except model.NotEnrollable as exc:
        abort(409, description=str(exc))
    return jsonify(_policy_json(policy))


def create_app(database_url: str | None = None):
    wiring = bootstrap(database_url)
    app = service_app(SERVICE, checks={"database": lambda: ping(wiring.engine)}, import_name=__name__,
                      callers=(GATEWAY, IDENTITY))
    app.extensions["policies"] = wiring
    app.register_blueprint(bp)
    return app
