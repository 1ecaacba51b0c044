"""Changing the e-mail address and the mobile number. Both need the current password; a new address takes effect
only through the link sent to it (this page may be opened on another device, so it needs no login — the link is the
proof), a new number only with the code sent to it by SMS."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _

from ..auth import login_required
from ..clients import clients
from ..clients.http import Gone, InvalidFields, Locked
from ..forms import ActionForm, apply_remote_errors
from . import bp
from .forms import EmailChangeForm, MobileChangeForm, MobileCodeForm
from .routes import _locked_out

FIX_FIELDS = "Kérjük, javítsa a pirossal jelölt mezőket."


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def change_email():
    form = EmailChangeForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            clients().identity.request_email_change(g.user["account_id"], form.password.data, form.email.data)
        except InvalidFields as exc:
            errors = apply_remote_errors(form, exc.fields) or [str(exc.message)]
        except Locked as exc:  # the wrong password that locked the account
            return _locked_out(exc)
        else:
            session["email_change_to"] = form.email.data
            return redirect(url_for("account.change_email_sent"))
    elif form.errors:
        errors = [_(FIX_FIELDS)]
    return render_template("account/change_email.html", form=form, errors=errors), 422 if errors else 200


@bp.get("/account/email/sent")
@login_required
def change_email_sent():
    return render_template("account/change_email_sent.html", email=session.get("email_change_to"))


@bp.get("/account/email/confirm/<token>")
def confirm_email(token: str):
    """A page with a button: a GET never changes anything (mail scanners open links)."""
    return render_template("account/confirm_email.html", form=ActionForm(), token=token)


@bp.post("/account/email/confirm/<token>")
def confirm_email_post(token: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        account = clients().identity.confirm_email_change(token)
    except Gone as exc:
        return render_template("account/confirm_email_failed.html", reason=exc.code), 410
    session.pop("email_change_to", None)
    return render_template("account/confirm_email_done.html", email=account.get("email"))


@bp.route("/account/mobile", methods=["GET", "POST"])
@login_required
def change_mobile():
    form = MobileChangeForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            change = clients().identity.request_mobile_change(g.user["account_id"], form.password.data,
                                                              form.mobile.data)
        except InvalidFields as exc:
            errors = apply_remote_errors(form, exc.fields) or [str(exc.message)]
        except Locked as exc:  # the wrong password that locked the account
            return _locked_out(exc)
        else:
            session["mobile_change_to"] = change.get("new_value") or form.mobile.data  # identity normalised it
            return redirect(url_for("account.confirm_mobile"))
    elif form.errors:
        errors = [_(FIX_FIELDS)]
    return render_template("account/change_mobile.html", form=form, errors=errors), 422 if errors else 200


@bp.route("/account/mobile/confirm", methods=["GET", "POST"])
@login_required
def confirm_mobile():
    form = MobileCodeForm()
    errors: list[str] = []
    expired = False
    if form.validate_on_submit():
        try:
            clients().identity.confirm_mobile_change(g.user["account_id"], form.code.data)
        except InvalidFields as exc:
            errors = apply_remote_errors(form, exc.fields) or [str(exc.message)]
        except Gone:
            expired = True
            errors = [_("Ez a kód már nem érvényes (lejárt, vagy többször hibásan adta meg). Kérjen új kódot.")]
        else:
            session.pop("mobile_change_to", None)
            flash(_("Új mobilszámát elmentettük. Az SMS-eket ezentúl erre a számra küldjük."), "success")
            return redirect(url_for("account.profile"))
    elif form.errors:
        errors = [_(FIX_FIELDS)]
    return render_template("account/confirm_mobile.html", form=form, errors=errors, expired=expired,
                           mobile=session.get("mobile_change_to")), 422 if errors else 200
