from __future__ import annotations

from flask import current_app, g, render_template

from portal_common import logs

from ..auth import login_required
from ..clients import clients
from ..clients.http import NotFound, RemoteError, ServiceUnavailable
from ..i18n import current_language
from . import bp

log = logs.get_logger(__name__)
HOME_DOCUMENTS = 5


@bp.get("/")
def index():
    return render_template("main/index.html")


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every site whatever the page says; a day in caches."""
    return current_app.send_static_file("favicon.ico"), 200, {"Cache-Control": "public, max-age=86400"}


@bp.get("/help")
def manual():
    # The manual is long prose: one template per language reads better than hundreds of msgids.
    return render_template(f"help/manual_{current_language()}.html")


@bp.get("/help/browsers")
def browsers():
    return render_template("help/browsers.html")


@bp.get("/home")
@login_required
def home():
    """Composed from policies and documents; a service that is down costs its box, not the page."""
    customer_id = g.user["customer_id"]
    policies = documents = None
    unread = 0
    unavailable = []
    try:
        policies = clients().policies.customer_policies(customer_id)
    except ServiceUnavailable:
        unavailable.append("policies")
    try:
        listing = clients().documents.list(customer_id, limit=HOME_DOCUMENTS)
        documents, unread = listing.get("documents", [])[:HOME_DOCUMENTS], listing.get("unread", 0)
    except ServiceUnavailable:
        unavailable.append("documents")
    except NotFound:
        documents = []  # documents answers 404 for a customer whose registration is closed
    declaration = None
    try:
        declaration = clients().identity.get_declaration(customer_id)
    except RemoteError:
        declaration = {"active": True}  # unknown: suggest nothing rather than something wrong
    enrollable = [p for p in (policies or []) if p.get("enrollable")]
    return render_template("main/home.html", policies=policies, documents=documents, unread=unread,
                           unavailable=unavailable, enrollable=enrollable,
                           has_declaration=bool(declaration and declaration.get("active")))
