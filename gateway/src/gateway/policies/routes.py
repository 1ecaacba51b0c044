from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from ..auth import login_required
from ..clients import clients
from ..clients.http import Conflict, NotFound
from ..forms import ActionForm
from . import bp


def _policy(policy_number: str) -> dict:
    for policy in clients().policies.customer_policies(g.user["customer_id"]):
        if policy["policy_number"] == policy_number:
            return policy
    abort(404)


@bp.get("/policies")
@login_required
def index():
    policies = clients().policies.customer_policies(g.user["customer_id"])
    return render_template("policies/index.html", policies=policies)


@bp.get("/policies/<policy_number>/epost")
@login_required
def enrol_confirm(policy_number: str):
    """A confirmation page first: enrolment changes how a cheque-paid policy is paid."""
    policy = _policy(policy_number)
    if not policy.get("enrollable"):
        return redirect(url_for("policies.index"))
    return render_template("policies/enrol.html", policy=policy, form=ActionForm())


@bp.post("/policies/<policy_number>/epost")
@login_required
def enrol(policy_number: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    previous = _policy(policy_number).get("payment_method")
    try:
        policy = clients().policies.enrol(policy_number, g.user["customer_id"])
    except NotFound:
        abort(404)
    except Conflict:
        flash(_("Ez a szerződés most nem vehető fel az ePosta szolgáltatásba. Kérjük, hívja telefonos "
                "ügyfélszolgálatunkat."), "error")
        return redirect(url_for("policies.index"))
    message = _("A(z) %(number)s számú szerződés dokumentumait ezentúl elektronikusan kapja.",
                number=policy_number)
    if previous == "cheque" and policy.get("payment_method") == "bank_transfer":
        message += " " + _("A díjfizetés módja csekkről banki átutalásra változott.")
    flash(message, "success")
    return redirect(url_for("policies.index"))
