"""The account pages. Every state change is a POST with a CSRF token; every form is validated here first, and
nothing is sent to identity while any field is invalid."""
from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _, ngettext

from portal_common import logs

from .. import i18n
from ..auth import end_session, login_required, safe_next, start_session
from ..clients import clients
from ..clients.http import (ActivationPending, AlreadyDeclared, AlreadyRegistered, Gone, IdentificationFailed,
                            InvalidCredentials, InvalidFields, Locked, NoDeclaration, NotEligible, RemoteError,
                            ServiceUnavailable, Throttled)
from ..forms import ActionForm, apply_remote_errors
from . import bp
from .forms import (ChangePasswordForm, CloseAccountForm, DeclarationForm, DeclarationWithdrawForm, ForgottenForm,
                    LoginForm, RegistrationForm, ResendForm)

log = logs.get_logger(__name__)


def _lang() -> str:
    return str(get_locale() or "hu")


def _phone() -> str:
    return current_app.config["TELESERVICE_PHONE"]


def _throttled_message(exc: Throttled) -> str:
    return ngettext("Túl sok sikertelen próbálkozás. Kérjük, várjon %(num)s percet, és próbálja újra.",
                    "Túl sok sikertelen próbálkozás. Kérjük, várjon %(num)s percet, és próbálja újra.",
                    exc.retry_minutes)


def _identification_errors(exc: RemoteError, form) -> list[str]:
    """The page-level message for an identification / eligibility / throttling refusal (one table of texts)."""
    if isinstance(exc, IdentificationFailed):
        return [str(exc.message) % {"phone": _phone()}]
    if isinstance(exc, Throttled):
        return [_throttled_message(exc)]
    if isinstance(exc, InvalidFields):
        return apply_remote_errors(form, exc.fields) or [str(exc.message)]
    return [str(exc.message)]


# Step 0: declaration on electronic communication ----------------------------------------------------------------
@bp.route("/declaration", methods=["GET", "POST"])
def declaration():
    form = DeclarationForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            clients().identity.create_declaration({**form.identification(), "email": form.email.data,
                                                   "language": _lang()})
            session["declared_email"] = form.email.data
            return redirect(url_for("account.declaration_done"))
        except AlreadyDeclared as exc:
            errors = [str(exc.message)]
            return render_template("account/declaration.html", form=form, errors=errors, already=True)
        except (IdentificationFailed, Throttled, InvalidFields) as exc:
            errors = _identification_errors(exc, form)
    elif form.errors:
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    return render_template("account/declaration.html", form=form, errors=errors, already=False)


@bp.get("/declaration/done")
def declaration_done():
    return render_template("account/declaration_done.html", email=session.get("declared_email"))


# Withdrawing the declaration without an account (a registered user does it on /account) --------------------------
@bp.route("/declaration/withdraw", methods=["GET", "POST"])
def declaration_withdraw():
    form = DeclarationWithdrawForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            result = clients().identity.withdraw_declaration_identified(form.identification())
        except NoDeclaration as exc:
            errors = [str(exc.message)]
        except (IdentificationFailed, Throttled, InvalidFields) as exc:
            errors = _identification_errors(exc, form)
        else:
            session["declaration_withdrawn_at"] = result.get("withdrawn_at")
            return redirect(url_for("account.declaration_withdrawn"))
    elif form.errors:
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    return render_template("account/declaration_withdraw.html", form=form, errors=errors)


@bp.get("/declaration/withdrawn")
def declaration_withdrawn():
    return render_template("account/declaration_withdrawn.html",
                           withdrawn_at=session.get("declaration_withdrawn_at"))


# Step 1: registration and activation ------------------------------------------------------------------------------
@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegistrationForm()
    errors: list[str] = []
    if form.validate_on_submit():
        data = {**form.identification(), "email": form.email.data, "mobile": form.mobile.data,
                "username": form.username.data, "language": _lang(),
                "accept_declaration": bool(form.accept_declaration.data)}
        try:
            clients().identity.register(data)
            session["registered_email"] = form.email.data
            return redirect(url_for("account.register_sent"))
        except ActivationPending:
            # An earlier registration of this customer awaits activation and its link is still valid.
            return render_template("account/register_pending.html", form=ResendForm(email=form.email.data))
        except InvalidFields as exc:  # identity's field rules: each message under its field
            errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")] + apply_remote_errors(form, exc.fields)
        except (IdentificationFailed, Throttled, NotEligible, AlreadyRegistered) as exc:
            errors = _identification_errors(exc, form)
    elif form.errors:
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    return render_template("account/register.html", form=form, errors=errors)


@bp.get("/register/sent")
def register_sent():
    form = ResendForm(email=session.get("registered_email"))
    return render_template("account/register_sent.html", form=form, email=session.get("registered_email"))


@bp.post("/register/resend")
def register_resend():
    form = ResendForm()
    if not form.validate_on_submit():
        return render_template("account/register_sent.html", form=form, email=session.get("registered_email")), 422
    try:
        clients().identity.resend_activation(form.email.data)  # 202 whatever the address: reveals nothing
    except ServiceUnavailable:
        raise
    except InvalidFields as exc:  # the form of the address only (identity's rule), the same for everyone
        apply_remote_errors(form, exc.fields)
        return render_template("account/register_sent.html", form=form, email=session.get("registered_email")), 422
    except RemoteError as exc:
        # Throttling (429) must not make the answer differ from the normal one.
        log.warning("resend_refused", error=exc.code)
    session["registered_email"] = form.email.data
    flash(_("Ha ehhez a címhez aktiválásra váró regisztráció tartozik, új aktiváló linket küldtünk. A korábbi link "
            "érvényét vesztette."), "success")
    return redirect(url_for("account.register_sent"))


@bp.get("/activate/<token>")
def activate(token: str):
    # A GET never activates: mail scanners open links before the user does. The button POSTs.
    return render_template("account/activate.html", form=ActionForm(), token=token)


@bp.post("/activate/<token>")
def activate_confirm(token: str):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        result = clients().identity.activate(token)
    except Gone as exc:
        return render_template("account/activate_failed.html", reason=exc.code, form=ResendForm()), 410
    session["activation"] = {"username": result.get("username"), "account_id": result.get("account_id"),
                             "mobile": result.get("mobile") or result.get("mobile_masked")}
    return redirect(url_for("account.activate_done"))


def _sms_failed(activation: dict | None) -> bool:
    """Did notify report that the initial-password SMS could not be delivered (identity's ``sms_status``)?"""
    account_id = (activation or {}).get("account_id")
    if not account_id:
        return False
    try:
        return clients().identity.get_account(account_id).get("sms_status") == "failed"
    except RemoteError:
        return False


@bp.get("/activate/done")
def activate_done():
    activation = session.get("activation")
    if not activation:
        return redirect(url_for("account.login"))
    return render_template("account/activate_done.html", activation=activation, sms_failed=_sms_failed(activation))


# Step 2: login, logout, lock ----------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            result = clients().identity.login(form.username.data, form.password.data)
        except Locked as exc:
            session["lock"] = exc.lock()
            return redirect(url_for("account.locked"))
        except InvalidCredentials as exc:
            # Also an account still awaiting activation: identity answers the same 401 (it reveals nothing).
            errors = [str(exc.message)]
        except Throttled as exc:
            errors = [ngettext("Erről az eszközről vagy hálózatról túl sok bejelentkezési kísérlet érkezett. "
                               "Kérjük, %(num)s perc múlva próbálja újra.",
                               "Erről az eszközről vagy hálózatról túl sok bejelentkezési kísérlet érkezett. "
                               "Kérjük, %(num)s perc múlva próbálja újra.", exc.retry_minutes)]
        else:
            target = safe_next(request.args.get("next"))
            start_session(result)
            _sync_language(result["account_id"])
            log.info("login", account_id=result.get("account_id"))
            if result.get("must_change_password"):
                return redirect(url_for("account.change_password"))
            return redirect(target or url_for("main.home"))
    elif form.errors:
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    return render_template("account/login.html", form=form, errors=errors,
                           sms_failed=_sms_failed(session.get("activation")))


def _sync_language(account_id: str) -> None:
    """A language chosen with the switch before logging in becomes the account's (its e-mails and SMS follow);
    without a choice, the pages take the account's language."""
    chosen = i18n.chosen_language()
    try:
        if chosen:
            clients().identity.set_language(account_id, chosen)
        else:
            language = clients().identity.get_account(account_id).get("language")
            if language in i18n.LANGUAGES:
                session["lang"] = language
    except RemoteError:
        log.warning("language_not_synchronised", account_id=account_id)


@bp.post("/logout")
def logout():
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    session_id = session.get("sid")
    if session_id:
        try:
            clients().identity.logout(session_id)
        except RemoteError:
            pass  # the cookie goes anyway; identity's idle timeout ends the session
    end_session()
    flash(_("Sikeresen kijelentkezett."), "success")
    return redirect(url_for("account.login"))


@bp.get("/locked")
def locked():
    return render_template("account/locked.html", lock=session.get("lock") or {})


def _locked_out(exc: Locked):
    """A wrong password on a logged-in page locked the account: identity ended every session; so does the page."""
    end_session()
    session["lock"] = exc.lock()
    return redirect(url_for("account.locked"))


# Forgotten username or password -------------------------------------------------------------------------------------
@bp.route("/forgotten", methods=["GET", "POST"])
def forgotten():
    form = ForgottenForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            clients().identity.recover(form.email.data, form.mobile.data)
        except ServiceUnavailable:
            raise
        except InvalidFields as exc:  # the form of the address or number only: the same for everyone
            errors = apply_remote_errors(form, exc.fields) + [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
            return render_template("account/forgotten.html", form=form, errors=errors)
        except RemoteError as exc:
            # Throttling or a refusal must not make the answer differ from the normal one.
            log.warning("recovery_refused", error=exc.code)
        return redirect(url_for("account.forgotten_sent"))
    if form.errors:
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    return render_template("account/forgotten.html", form=form, errors=errors)


@bp.get("/forgotten/sent")
def forgotten_sent():
    return render_template("account/forgotten_sent.html")


# Logged-in account pages --------------------------------------------------------------------------------------------
@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    user = g.user
    form = ChangePasswordForm()
    form.username_value = user.get("username")
    errors: list[str] = []
    if form.validate_on_submit():
        identity = clients().identity
        try:
            identity.change_password(user["account_id"], form.current_password.data, form.new_password.data,
                                     session_id=session.get("sid"))
        except InvalidFields as exc:
            errors = apply_remote_errors(form, exc.fields) or [str(exc.message)]
        except Locked as exc:
            return _locked_out(exc)
        else:
            flash(_("Új jelszavát elmentettük. Erről e-mailben is értesítjük."), "success")
            return redirect(url_for("main.home"))
    elif form.errors:
        errors = [_("Kérjük, javítsa a pirossal jelölt mezőket.")]
    return render_template("account/change_password.html", form=form, errors=errors,
                           forced=bool(user.get("must_change_password")))


@bp.get("/account")
@login_required
def profile():
    user = g.user
    identity = clients().identity
    account = identity.get_account(user["account_id"])
    declaration = identity.get_declaration(user["customer_id"])
    return render_template("account/profile.html", account=account, declaration=declaration,
                           close_form=CloseAccountForm(), action_form=ActionForm(), close_errors=[])


@bp.post("/account/declaration/withdraw")
@login_required
def withdraw_declaration():
    if not ActionForm().validate_on_submit():
        abort(400)
    clients().identity.withdraw_declaration(g.user["customer_id"])
    flash(_("Nyilatkozatát visszavontuk. Dokumentumait ezentúl ismét postán küldjük."), "success")
    return redirect(url_for("account.profile"))


@bp.post("/account/close")
@login_required
def close_account():
    user = g.user
    form = CloseAccountForm()
    errors: list[str] = []
    if form.validate_on_submit():
        identity = clients().identity
        try:
            identity.close_account(user["account_id"], form.password.data)
        except InvalidFields as exc:
            errors = apply_remote_errors(form, exc.fields) or [str(exc.message)]
        except Locked as exc:
            return _locked_out(exc)
        else:
            try:
                identity.logout(session.get("sid"))
            except RemoteError:
                pass
            end_session()
            return redirect(url_for("account.closed"))
    identity = clients().identity
    account = identity.get_account(user["account_id"])
    declaration = identity.get_declaration(user["customer_id"])
    return render_template("account/profile.html", account=account, declaration=declaration, close_form=form,
                           action_form=ActionForm(), close_errors=errors), 422


@bp.get("/account/closed")
def closed():
    return render_template("account/closed.html")
