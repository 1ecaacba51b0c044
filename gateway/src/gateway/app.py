"""``create_app(config=None)``: the gateway's application factory.

``config`` overrides settings from the environment; ``config["CLIENTS"]`` replaces the real service clients (tests
pass :func:`gateway.clients.fakes.fake_clients`).
"""
from __future__ import annotations

import re
import time

from flask import Flask, current_app, g, request, session
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix

from portal_common import logs, metrics

from . import SERVICE, cache as gateway_cache, formatting, fragments, i18n, labels, settings, templating, urls
from .clients import build_clients, clients as app_clients
from .extensions import babel, csrf
from .forms import field_attrs
from .session_cookie import EncryptedCookieSessionInterface

log = logs.get_logger(__name__)

# An id the edge (ingress, load balancer) gave the request: bounded length and a plain charset, because it ends up in
# every log line, in outbox rows (64 characters) and in headers to the services.
REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
# W3C Trace Context: version-traceid-parentid-flags; the trace id (not all zeros) joins our logs to the trace.
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def edge_correlation_id(headers) -> str | None:
    """The correlation id the edge started, if it sent a valid one: ``X-Request-ID``, else the ``traceparent``'s
    trace id. Anything malformed is ignored (a fresh id is started), never echoed into logs.

    >>> edge_correlation_id({"X-Request-ID": "4bf92f3577b34da6a3ce929d0e0e4736"})
    '4bf92f3577b34da6a3ce929d0e0e4736'
    """
    request_id = (headers.get("X-Request-ID") or "").strip()
    if REQUEST_ID.fullmatch(request_id):
        return request_id
    match = TRACEPARENT.fullmatch((headers.get("traceparent") or "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    return None


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
       "frame-ancestors 'self'; form-action 'self'; base-uri 'self'")


HSTS = "max-age=31536000; includeSubDomains"  # a year (ASVS 3.4.1); served only when the portal is on TLS


def create_app(config: dict | None = None) -> Flask:
    logs.configure_logging(SERVICE)
    app = Flask(__name__)
    app.jinja_environment = templating.PortalEnvironment  # before anything makes app.jinja_env
    app.session_interface = EncryptedCookieSessionInterface()  # no personal data readable in the cookie
    app.config.update(settings.from_env())
    app.config.update(config or {})
    app.json.ensure_ascii = False
    if app.config["PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])

    # The session check and the customer's lists go through the process's cache (cache.py: used only while the
    # bus tells this process what changes).
    kept = app.config.get("CACHE")
    app.extensions["cache"] = kept if kept is not None else gateway_cache.cache()
    app.extensions["clients"] = gateway_cache.with_cache(app.config.get("CLIENTS") or build_clients(),
                                                         app.extensions["cache"])
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(i18n.compile_catalogues())
    babel.init_app(app, locale_selector=i18n.select_locale)
    i18n.install_template_gettext(app)
    csrf.init_app(app)
    formatting.register(app)
    app.jinja_env.globals["field_attrs"] = field_attrs
    app.jinja_env.globals["url_for"] = urls.cached_url_for(app)
    app.jinja_env.globals["navlink"] = _navlink
    app.jinja_env.globals["fragment"] = fragments.fragment

    _register_blueprints(app)
    _install_hooks(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from . import account, contact, documents, errors, main, ops, policies

    app.register_blueprint(errors.bp)
    # /healthz only: /readyz and /metrics live on the operations port (gateway/gunicorn.conf.py, ops.py).
    app.register_blueprint(ops.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(contact.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(policies.bp)
    if app.config["DEV_PAGES"]:
        from . import dev

        app.register_blueprint(dev.bp)


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()
        # The gateway is the portal's edge: it continues the id of the ingress in front of it (validated) so its
        # logs join the ingress's, and starts a fresh one otherwise.
        g.correlation_id = logs.bind_correlation_id(edge_correlation_id(request.headers))
        if i18n.remember_language() and "sid" in session:
            _store_language(session["lang"])

    @app.after_request
    def _finish(response):
        user = g.get("user")
        if user and request.method not in ("GET", "HEAD", "OPTIONS"):
            # Whatever the customer just sent may have changed their session's answer or their lists: this
            # process asks again at once (the others learn it from the services' events).
            app.extensions["cache"].forget(customer_id=user.get("customer_id"), account_id=user.get("account_id"))
        i18n.set_cookie(response)
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
        if request.endpoint != "static":
            # Pages show personal data before any login too (/activate/done: username and mobile; /register/sent:
            # the e-mail address): no page and no document is ever kept by a browser or a shared cache.
            headers["Cache-Control"] = "no-store"
        if request.is_secure or app.config["PUBLIC_URL"].startswith("https://"):
            headers["Strict-Transport-Security"] = HSTS
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


def _store_language(lang: str) -> None:
    """A logged-in customer's switch is their messages' language too (identity keeps it with the account)."""
    from .auth import current_user
    from .clients.http import RemoteError

    user = current_user()
    if user is None:
        return
    try:
        app_clients().identity.set_language(user["account_id"], lang)
    except RemoteError:  # the page still switches; the e-mails follow at the next switch or login
        log.warning("language_not_stored", account_id=user["account_id"])


_NAVLINK = Markup('<a href="%s"%s>%s</a>')
_CURRENT_PAGE = Markup(' aria-current="page"')


def _navlink(endpoint: str, text: str) -> Markup:
    """A link of the header's navigation, ``aria-current="page"`` on the page itself (and, for an area's ``.index``,
    on every page of that area). A function rather than a Jinja macro: the header has five or six of them. Markup's
    ``%`` escapes the link and the text as its ``format`` did, without ``string.Formatter``'s parsing per call."""
    here = request.endpoint or ""
    current = here == endpoint or (here.startswith(endpoint.rsplit(".", 1)[0] + ".") and endpoint.endswith(".index"))
    return _NAVLINK % (current_app.jinja_env.globals["url_for"](endpoint), _CURRENT_PAGE if current else "", text)


def _lang_url(code: str) -> str:
    """The current page in another language (``?lang=`` keeps the other query parameters); the templates' link
    cache (urls.py) builds it as Flask's ``url_for`` does."""
    build = current_app.jinja_env.globals["url_for"]
    if request.url_rule is None or request.method != "GET":
        return build("main.index", lang=code)
    args = {**request.args.to_dict(), **(request.view_args or {}), "lang": code}
    return build(request.endpoint, **args)
