from __future__ import annotations

from flask import current_app, g, render_template

from portal_common import logs

from ..auth import login_required
from ..clients import clients
from ..clients.http import NotFound, ServiceUnavailable
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
    """Composed from policies and documents, asked at once (:func:`gather`); a service that is down or slow costs
    its box, not the page. Whether the customer has an active declaration came with the session check
    (``g.user["declaration_active"]``): identity answers it there, one internal request fewer per page."""
    customer_id = g.user["customer_id"]
    services = clients()
    answers = gather({
        "policies": lambda: services.policies.customer_policies(customer_id),
        "documents": lambda: services.documents.list(customer_id, limit=HOME_DOCUMENTS),
    })
    unavailable = []
    policies, listing = answers["policies"], answers["documents"]
    if isinstance(policies, ServiceUnavailable):
        policies = None
        unavailable.append("policies")
    if isinstance(listing, ServiceUnavailable):
        listing = None
        unavailable.append("documents")
    elif isinstance(listing, NotFound):
        listing = {"documents": []}  # documents answers 404 for a customer whose registration is closed
    for answer in (policies, listing):
        if isinstance(answer, Exception):
            raise answer  # anything else is the page's error, as if it had been called here
    documents = None if listing is None else listing.get("documents", [])[:HOME_DOCUMENTS]
    unread = 0 if listing is None else listing.get("unread", 0)
    enrollable = [p for p in (policies or []) if p.get("enrollable")]
    # An identity without the field (an older version during a rolling update): suggest nothing rather than
    # something wrong.
    has_declaration = g.user.get("declaration_active", True)
    return render_template("main/home.html", policies=policies, documents=documents, unread=unread,
                           unavailable=unavailable, enrollable=enrollable, has_declaration=bool(has_declaration))
