"""``/healthz`` (the process is alive), ``/readyz`` (its database and broker are reachable) and ``/metrics``.

APIs mount :func:`health_blueprint`; workers serve the same endpoints on a side port with :func:`serve_health`.
"""
from __future__ import annotations

import threading
from typing import Callable

from flask import Blueprint, Flask, Response, jsonify

from .metrics import render_metrics

Check = Callable[[], None]  # raises when not ready


def run_checks(checks: dict[str, Check]) -> tuple[dict, bool]:
    results, ok = {}, True
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - report, never crash the probe
            results[name] = f"failing: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ok = False
    return results, ok


def health_blueprint(checks: dict[str, Check]) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz():
        return jsonify(status="alive")

    @bp.get("/readyz")
    def readyz():
        results, ok = run_checks(checks)
        return jsonify(status="ready" if ok else "not ready", checks=results), (200 if ok else 503)

    @bp.get("/metrics")
    def metrics():
        body, content_type = render_metrics()
        return Response(body, content_type=content_type)

    return bp


def serve_health(port: int, checks: dict[str, Check], host: str = "0.0.0.0"):
    """Serve the health endpoints from a daemon thread (for workers). Returns the server (``.shutdown()``)."""
    from werkzeug.serving import make_server

    app = Flask("health")
    app.register_blueprint(health_blueprint(checks))
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server


def broker_check(url: str | None) -> Check:
    """Ready when a fresh connection to the broker opens (the file bus is always ready)."""
    from .bus import connect

    def check() -> None:
        if not url:
            return
        with connect(url) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)

    return check
