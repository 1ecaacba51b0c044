"""The gateway's operations endpoints, on their own port (``PORTAL_HEALTH_PORT``, 9100) like the workers'.

The public port (8000) serves pages and ``/healthz`` only: ``/metrics`` and ``/readyz`` are not for the internet
(issue 8). gunicorn's master process serves them (``gateway/gunicorn.conf.py`` calls :func:`serve_ops` when ready):
``/metrics`` aggregates every worker process through ``PROMETHEUS_MULTIPROC_DIR``, and ``/readyz`` checks the gateway
itself — one local request to the public port's ``/healthz``, bounded at 1 s, well below the probe's 3 s. It never
pings the services: a service that is down costs its box on a page, not the gateway's place behind the load
balancer (issue 11).
"""
from __future__ import annotations

import urllib.request

from flask import Blueprint, jsonify

from portal_common.health import Check, serve_health

READY_TIMEOUT_S = 1.0

#: Registered on the public app: liveness only (the process answers), nothing an outsider can learn from.
bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="alive")


def public_port_check(host: str, port: int, timeout: float = READY_TIMEOUT_S) -> Check:
    """Ready when a gunicorn worker answers the public port's ``/healthz`` within ``timeout``."""
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host

    def check() -> None:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                raise RuntimeError(f"/healthz answered {response.status}")

    return check


def serve_ops(ops_port: int, public_host: str, public_port: int, host: str = "0.0.0.0"):
    """Start the operations server (``/healthz``, ``/readyz``, ``/metrics``) in a daemon thread; returns it."""
    return serve_health(ops_port, {"gateway": public_port_check(public_host, public_port)}, host=host)
