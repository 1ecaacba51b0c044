from __future__ import annotations

from flask import current_app, g, render_template

from portal_common import logs

from ..auth import login_required
from ..clients import clients
from ..clients.http import NotFound, RemoteError, ServiceUnavailable
from ..compose import gather
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
    """Composed from policies, documents and the declaration, asked at once (:func:`gather`); a service that is
    down or slow costs its box, not the page."""
    customer_id = g.user["customer_id"]
    services = clients()
    answers = gather({
        "policies": lambda: services.policies.customer_policies(customer_id),
        "documents": lambda: services.documents.list(customer_id, limit=HOME_DOCUMENTS),
        "declaration": lambda: services.identity.get_declaration(customer_id),
    })
    unavailable = []
    policies, listing, declaration = answers["policies"], answers["documents"], answers["declaration"]
    if isinstance(policies, ServiceUnavailable):
        policies = None
        unavailable.append("policies")
    if isinstance(listing, ServiceUnavailable):
        listing = None
        unavailable.append("documents")
    elif isinstance(listing, NotFound):
        listing = {"documents": []}  # documents answers 404 for a customer whose registration is closed
    if isinstance(declaration, RemoteError):
        declaration = {"active": True}  # unknown: suggest nothing rather than something wrong
    for answer in (policies, listing, declaration):
        if isinstance(answer, Exception):
            raise answer  # anything else is the page's error, as if it had been called here
    documents = None if listing is None else listing.get("documents", [])[:HOME_DOCUMENTS]
    unread = 0 if listing is None else listing.get("unread", 0)
    enrollable = [p for p in (policies or []) if p.get("enrollable")]
    return render_template("main/home.html", policies=policies, documents=documents, unread=unread,
                           unavailable=unavailable, enrollable=enrollable,
                           has_declaration=bool(declaration and declaration.get("active")))
