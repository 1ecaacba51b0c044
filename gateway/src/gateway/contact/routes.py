""""Kérdésem van": a callback within two working days. Identity stores the request and publishes it for the
insurer's contact centre; notify confirms it by e-mail. The page never trusts a customer id from the form: a
logged-in customer is named by their session only."""
from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _, ngettext

from portal_common import logs

from ..auth import current_user
from ..clients import clients
from ..clients.http import InvalidFields, RemoteError, ServiceUnavailable, Throttled
from ..forms import apply_remote_errors
from . import bp
from .forms import CallbackForm, new_idempotency_key

log = logs.get_logger(__name__)


def _prefill(form: CallbackForm, user: dict) -> None:
    """The logged-in customer's name, phone, e-mail and (first) policy; a service that is down leaves a field empty."""
    try:
        account = clients().identity.get_account(user["account_id"])
        form.email.data, form.phone.data = account.get("email"), account.get("mobile")
    except RemoteError:
        pass
    try:
        policies = clients().policies.customer_policies(user["customer_id"])
        if policies:
            form.policy_number.data = policies[0]["policy_number"]
            policy = clients().policies.get_policy(policies[0]["policy_number"])
            holder = policy.get("policyholder") or {}
            if holder.get("customer_id") == user["customer_id"]:
                form.name.data = holder.get("name")
    except RemoteError:
        pass


@bp.route("/contact", methods=["GET", "POST"])
def callback():
    user = current_user()
    form = CallbackForm()
    errors: list[str] = []
    if request.method == "GET":
        form.idempotency_key.data = new_idempotency_key()
        if user:
            _prefill(form, user)
    elif form.validate_on_submit():
        data = {name: getattr(form, name).data for name in (
            "idempotency_key", "name", "phone", "email", "policy_number", "topic", "message", "preferred_time")}
        data.update(language=str(get_locale() or "hu"), account_id=user["account_id"] if user else None)
        try:
            result = clients().identity.request_callback(data)
        except InvalidFields as exc:
            errors = apply_remote_errors(form, exc.fields) or [str(exc.message)]
        except Throttled as exc:
            errors = [ngettext("Erről az eszközről most túl sok kérés érkezett. Kérjük, próbálja újra %(num)s perc "
                               "múlva, vagy hívja telefonos ügyfélszolgálatunkat.",
                               "Erről az eszközről most túl sok kérés érkezett. Kérjük, próbálja újra %(num)s perc "
                               "múlva, vagy hívja telefonos ügyfélszolgálatunkat.", exc.retry_minutes)]
        except ServiceUnavailable as exc:
            errors = [str(exc.message)]
        else:
            session["callback"] = {"due_on": result["due_on"], "email": result.get("email"),
                                   "phone": form.phone.data, "request_id": result["request_id"]}
            return redirect(url_for("contact.callback_sent"))
    else:
        if not form.idempotency_key.data or form.idempotency_key.errors:
            form.idempotency_key.data = new_idempotency_key()
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    status = 422 if errors else 200
    return render_template("contact/callback.html", form=form, errors=errors,
                           working_days=_working_days()), status


def _working_days():
    """identity's promise (PORTAL_CALLBACK_WORKING_DAYS), from its rules; None while identity never answered."""
    return (clients().identity.rules() or {}).get("callback_working_days")


@bp.get("/contact/sent")
def callback_sent():
    sent = session.get("callback")
    if not sent:
        return redirect(url_for("contact.callback"))
    return render_template("contact/sent.html", sent=sent,
                           working_days=_working_days())
