"""Internal HTTP API of the notify service: what was sent to whom, for operators and the dev page.

It never returns message texts: they may hold a password, a one-time password or an activation link.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from portal_common.db import ping
from portal_common.web import service_app

from .. import SERVICE
from ..bootstrap import Wiring, bootstrap
from . import schemas

bp = Blueprint("notify", __name__, url_prefix="/internal")


def _wiring() -> Wiring:
    return current_app.extensions["notify"]


@bp.get("/deliveries")
def list_deliveries():
    """Deliveries, newest first, optionally for one recipient.

    ``GET /internal/deliveries?to=anna@example.org&limit=20`` ->
    ``{"deliveries": [{"id": "…", "channel": "email", "template": "activation", "to": "anna@example.org",
    "status": "sent", "attempts": 1, "created_at": "…", "sent_at": "…", "reason": null}]}``
    """
    args = schemas.DeliveriesQuerySchema().load(request.args.to_dict())
    with _wiring().store().transaction() as repo:
        rows = repo.list_deliveries(to=args["to"], limit=args["limit"], status=args["status"])
    return jsonify(schemas.DeliveriesOutSchema().dump({"deliveries": rows}))


def create_app(database_url: str | None = None):
    wiring = bootstrap(database_url)
    app = service_app(SERVICE, checks={"database": lambda: ping(wiring.engine)}, import_name=__name__)
    app.extensions["notify"] = wiring
    app.register_blueprint(bp)
    return app
