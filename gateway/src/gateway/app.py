"""``create_app(config=None)``: the gateway's application factory.

``config`` overrides settings from the environment; ``config["CLIENTS"]`` replaces the real service clients (tests
pass :func:`gateway.clients.fakes.fake_clients`).
"""
from __future__ import annotations

import time

from flask import Flask, g, request, session, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from portal_common import logs, metrics

from . import SERVICE, formatting, i18n, labels, settings
from .clients import build_clients
from .extensions import babel, csrf
from .forms import field_attrs

log = logs.get_logger(__name__)

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'self'")


def create_app(config: dict | None = None) -> Flask:
    logs.configure_logging(SERVICE)
    app = Flask(__name__)
    app.config.update(settings.from_env())
    app.config.update(config or {})
    app.json.ensure_ascii = False
    if app.config["PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])

    app.extensions["clients"] = app.config.get("CLIENTS") or build_clients()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(i18n.compile_catalogues())
    babel.init_app(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)
    formatting.register(app)
    app.jinja_env.globals["field_attrs"] = field_attrs

    _register_blueprints(app)
    _install_hooks(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from portal_common.health import health_blueprint

    from . import account, documents, errors, main, ops, policies

    app.register_blueprint(errors.bp)
    # ops first: its /readyz (gateway ready + services as info) takes precedence over the shared one.
    app.register_blueprint(ops.bp)
    app.register_blueprint(health_blueprint({}))
    app.register_blueprint(main.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(policies.bp)
    if app.config["DEV_PAGES"]:
        from . import dev

        app.register_blueprint(dev.bp)


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        # The gateway is the public edge: it always starts a fresh correlation id (never trusts a client's).
        g.correlation_id = logs.bind_correlation_id(None)
        i18n.remember_language()

    @app.after_request
    def _finish(response):
        headers = response.headers
        headers["X-Correlation-ID"] = g.get("correlation_id", "")
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "SAMEORIGIN"
        if response.mimetype == "text/html":
            headers["Content-Security-Policy"] = CSP
        else:
            # Documents (PDF) may be framed by our own print page only.
            headers.setdefault("Content-Security-Policy", "frame-ancestors 'self'")
        if "sid" in session or g.get("user"):
            headers["Cache-Control"] = "no-store"  # personal pages and documents stay out of shared caches
        # The rule, not the path: paths may hold secrets (activation tokens) that must never reach a log.
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.HTTP_REQUESTS.labels(SERVICE, request.method, rule, response.status_code).inc()
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.HTTP_LATENCY.labels(SERVICE, rule).observe(elapsed)
        if rule not in ("/healthz", "/readyz", "/metrics", "/static/<path:filename>"):
            log.info("http_request", method=request.method, rule=rule, status=response.status_code,
                     ms=round(elapsed * 1000, 1))
        return response

    @app.context_processor
    def _template_globals():
        return {
            "insurer_name": app.config["INSURER_NAME"],
            "teleservice_phone": app.config["TELESERVICE_PHONE"],
            "lang": i18n.current_language(),
            "lang_url": _lang_url,
            "logged_in": bool(g.get("user")) or "sid" in session,
            "user": g.get("user"),
            "labels": labels,
            "dev_pages": app.config["DEV_PAGES"],
            # {"lockout_threshold": 3, "lockout_hours": 24, ...}: the numbers the pages and the manual quote, from
            # identity (asked only by a page that shows one; false while identity never answered).
            "rules": IdentityRules(),
        }


class IdentityRules:
    """identity's rule numbers for a template, asked on first use (``rules.lockout_hours``)."""

    def _answer(self) -> dict:
        if "identity_rules" not in g:
            from .clients import clients

            g.identity_rules = clients().identity.rules() or {}
        return g.identity_rules

    def __bool__(self) -> bool:
        return bool(self._answer())

    def __getattr__(self, name: str):
        return self._answer().get(name, "")  # identity never answered: the number is left out


def _lang_url(code: str) -> str:
    """The current page in another language (``?lang=`` keeps the other query parameters)."""
    if request.url_rule is None or request.method != "GET":
        return url_for("main.index", lang=code)
    args = {**request.args.to_dict(), **(request.view_args or {}), "lang": code}
    return url_for(request.endpoint, **args)
