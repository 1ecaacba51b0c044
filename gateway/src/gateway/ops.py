"""``/readyz`` of the gateway: ready when the gateway itself is; each service's reachability is reported as info.

A service being down must not take the gateway out of the load balancer: pages degrade (notice or 503 page)
instead. ``/healthz`` and ``/metrics`` come from ``portal_common.health``.
"""
from flask import Blueprint, current_app, jsonify

bp = Blueprint("ops", __name__)


@bp.get("/readyz")
def readyz():
    services = {}
    for name, client in current_app.extensions["clients"].named().items():
        try:
            client.ping()
            services[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - information only
            services[name] = f"unreachable: {type(exc).__name__}"
    return jsonify(status="ready", checks={"gateway": "ok"}, services=services)
