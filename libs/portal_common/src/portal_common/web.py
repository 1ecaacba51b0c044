"""What every internal service API shares: correlation ids, caller credentials, JSON errors, metrics.

Usage in a service's ``create_app``::

    app = service_app("policies", checks={"database": lambda: ping(engine)}, callers=(GATEWAY, IDENTITY))
    app.register_blueprint(policies_api)

Every route is for the gateway only unless it says otherwise with :func:`for_callers`.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable

from flask import Flask, current_app, g, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from . import logs, metrics
from .callers import GATEWAY, CallerCheck
from .health import Check, health_blueprint

log = logs.get_logger(__name__)
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")
#: A request slower than this is logged even when it succeeded (seconds).
SLOW_REQUEST = 1.0


def for_callers(*names: str) -> Callable:
    """Route decorator: only these callers may call it (default: the gateway alone)."""
    def mark(view):
        view.portal_callers = frozenset(names)
        return view
    return mark


def client_ip() -> str:
    """The customer's address as the gateway saw it; ``X-Client-IP`` is believed from the gateway only."""
    if g.get("caller") == GATEWAY and request.headers.get("X-Client-IP"):
        return request.headers["X-Client-IP"]
    return request.remote_addr or "unknown"


def service_app(service: str, checks: dict[str, Check], import_name: str | None = None,
                callers: Iterable[str] = (GATEWAY,)) -> Flask:
    logs.configure_logging(service)
    app = Flask(import_name or service)
    app.config["SERVICE_NAME"] = service
    app.config["CALLER_CHECK"] = CallerCheck(callers)
    app.json.ensure_ascii = False
    app.register_blueprint(health_blueprint(checks))
    _install_request_hooks(app, service)
    _install_error_handlers(app)
    return app


def _install_request_hooks(app: Flask, service: str) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        g.correlation_id = logs.bind_correlation_id(request.headers.get("X-Correlation-ID"))
        if request.path in PUBLIC_PATHS:
            return None
        # Internal APIs are not public: only the expected callers, each with its own credential, get in.
        g.caller = current_app.config["CALLER_CHECK"].identify(request.headers.get("X-Service-Token", ""))
        if g.caller is None:
            return jsonify(error="unauthorized", message="missing or wrong X-Service-Token"), 401
        view = current_app.view_functions.get(request.endpoint)
        allowed = getattr(view, "portal_callers", frozenset({GATEWAY}))
        if view is not None and g.caller not in allowed:
            log.warning("caller_refused", caller=g.caller, route=request.url_rule.rule)
            return jsonify(error="forbidden", message=f"{g.caller} may not call this route"), 403
        return None

    # The metric children per (method, route, status): ``labels()`` takes a lock and builds its key on every call,
    # and a route has only a handful of combinations.
    children: dict[tuple, tuple] = {}

    @app.after_request
    def _finish(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        key = (request.method, endpoint, response.status_code)
        child = children.get(key)
        if child is None:
            child = children[key] = (metrics.HTTP_REQUESTS.labels(service, *key),
                                     metrics.HTTP_LATENCY.labels(service, endpoint))
        child[0].inc()
        child[1].observe(elapsed)
        response.headers["X-Correlation-ID"] = g.get("correlation_id", "")
        # Internal calls are counted and timed above; a log line (~0.1 ms each, several per page) only for what an
        # operator looks for: errors and slow answers — or every request with the root logger at DEBUG. The
        # gateway logs each page with the same correlation id.
        if request.path not in PUBLIC_PATHS and (response.status_code >= 400 or elapsed >= SLOW_REQUEST
                                                 or logging.getLogger().isEnabledFor(logging.DEBUG)):
            # The route pattern, not the path: paths carry activation tokens and session ids.
            log.info("http_request", method=request.method, route=endpoint, status=response.status_code,
                     ms=round(elapsed * 1000, 1))
        return response


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        return jsonify(error="invalid", fields=exc.messages), 422

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled_error")
        return jsonify(error="internal_error", message="unexpected error; see the service log",
                       correlation_id=g.get("correlation_id")), 500
