"""Internal HTTP API of the identity service (only the gateway calls it, with ``X-Service-Token``).

Errors are ``{"error": code, ...}``. Field errors always have the shape::

    {"error": "invalid", "fields": {"new_password": [{"code": "too_short", "message_hu": "…", "message_en": "…"}]}}
"""
from __future__ import annotations


from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError

from portal_common.db import ping
from portal_common.sealing import default_sealer
from portal_common.web import client_ip, service_app

from .. import SERVICE
from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..adapters.policy_directory import PolicyDirectory
from ..bootstrap import Wiring, bootstrap
from ..domain import commands, errors, messages
from ..service_layer import contact, handlers
from ..settings import Settings
from . import schemas

bp = Blueprint("identity", __name__, url_prefix="/internal")


def _wiring() -> Wiring:
    return current_app.extensions["identity"]


def _body(schema) -> dict:
    return schema.load(request.get_json(force=True, silent=True) or {})


def _identification(data: dict) -> commands.Identification:
    return commands.Identification(policy_number=data["policy_number"].strip(), name=data["name"],
                                   birth_name=data["birth_name"], birth_date=data["birth_date"],
                                   birth_place=data["birth_place"], mother_name=data["mother_name"])


def _invalid(codes: dict[str, list[str]]):
    min_length = _wiring().settings.password_min_length
    return jsonify(error="invalid", fields=messages.field_errors(codes, min=min_length)), 422


# ---------------------------------------------------------------------------------------------------- errors
@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError):
    codes = {}
    for field, value in exc.messages.items():
        items = value if isinstance(value, list) else [value]
        codes[field] = [item if isinstance(item, str) and item in messages.MESSAGES else "invalid" for item in items]
    return _invalid(codes)


@bp.errorhandler(errors.InvalidFields)
def _invalid_fields(exc: errors.InvalidFields):
    return _invalid(exc.codes)


_SIMPLE = {
    errors.IdentificationFailed: (422, "identification_failed"),
    errors.NotEligible: (422, "not_eligible"),
    errors.AlreadyRegistered: (422, "already_registered"),
    errors.ActivationPending: (422, "activation_pending"),
    errors.NoDeclaration: (404, "no_declaration"),
    errors.AlreadyDeclared: (409, "already_declared"),
    errors.InvalidCredentials: (401, "invalid_credentials"),
    errors.NotFound: (404, "not_found"),
    errors.SessionExpired: (404, "expired"),
    errors.DirectoryUnavailable: (503, "unavailable"),
}


@bp.errorhandler(errors.IdentityError)
def _domain_error(exc: errors.IdentityError):
    if isinstance(exc, errors.Throttled):
        response = jsonify(error="throttled", retry_after=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, 429
    if isinstance(exc, errors.Locked):
        # What the page says comes from here: the rule's numbers with the lock (the gateway keeps no copy).
        settings = _wiring().settings
        return jsonify(error="locked", locked_until=handlers.iso(exc.locked_until),
                       lockout_threshold=settings.lockout_threshold, lockout_hours=settings.lockout_hours), 423
    if isinstance(exc, errors.TokenInvalid):
        return jsonify(error=exc.reason), 410
    status, code = _SIMPLE[type(exc)]
    return jsonify(error=code), status


# ----------------------------------------------------------------------------------------------------- rules
@bp.get("/rules")
def get_rules():
    """The numbers of identity's rules, for the pages that explain them (the gateway keeps no copy):
    ``{"lockout_threshold": 3, "lockout_hours": 24, "activation_ttl_hours": 24, "otp_ttl_hours": 24,
    "session_idle_minutes": 15, "password_min_length": 12}``."""
    return jsonify(schemas.RulesOutSchema().dump(_wiring().settings))


# ---------------------------------------------------------------------------------------------- declarations
@bp.post("/declarations")
def declare():
    """Declaration on electronic communication (step 0). Body: identification data + ``email`` + ``language``.

    201 ``{"declaration_id": "…", "customer_id": "C-1001"}`` | 422 ``{"error": "identification_failed"}`` |
    409 ``{"error": "already_declared"}`` | 429 ``{"error": "throttled", "retry_after": 540}``.
    """
    data = _body(schemas.DeclarationRequestSchema())
    cmd = commands.Declare(_identification(data), email=data["email"], language=data["language"],
                           client_ip=client_ip())
    declaration = _wiring().handle(handlers.declare, cmd)
    return jsonify(declaration_id=declaration.declaration_id, customer_id=declaration.customer_id), 201


@bp.post("/declarations/withdraw")
def withdraw_identified_declaration():
    """Withdrawal by someone who only declared (no portal login). Body: the identification data, identified like a
    declaration (the same throttle and generic mismatch answer).

    200 ``{"declaration_id": "…", "customer_id": "C-1001", "withdrawn_at": "2026-11-21T10:00:00+00:00"}`` |
    404 ``{"error": "no_declaration"}`` (none active: never declared, or withdrawn already) |
    422 ``{"error": "identification_failed"}`` | 429 ``{"error": "throttled", "retry_after": 540}``.
    """
    data = _body(schemas.IdentifiedWithdrawalRequestSchema())
    cmd = commands.WithdrawIdentifiedDeclaration(_identification(data), client_ip=client_ip())
    declaration = _wiring().handle(handlers.withdraw_identified_declaration, cmd)
    return jsonify(schemas.WithdrawalOutSchema().dump(declaration))


_DECLARATION_OUT = schemas.DeclarationOutSchema()  # asked on every /home: built once


@bp.get("/declarations/<customer_id>")
def get_declaration(customer_id: str):
    """The customer's active declaration, else the last withdrawn one: ``{"declaration_id", "email",
    "text_version", "declared_at", "active", …}`` | 404."""
    declaration = _wiring().handle(handlers.get_declaration, customer_id)
    return jsonify(_DECLARATION_OUT.dump(declaration))


@bp.post("/declarations/<customer_id>/withdraw")
def withdraw_declaration(customer_id: str):
    """Back to paper post; publishes ``customer.declaration_withdrawn`` once. 200 the declaration | 404."""
    declaration = _wiring().handle(handlers.withdraw_declaration, commands.WithdrawDeclaration(customer_id))
    return jsonify(_DECLARATION_OUT.dump(declaration))


# ---------------------------------------------------------------------------------------------- registration
@bp.post("/registrations")
def register():
    """Register a portal account (pending until the e-mailed link is followed).

    201 ``{"account_id": "…", "email": "anna@example.com"}`` | 422 ``identification_failed`` | ``not_eligible`` |
    ``already_registered`` (an active account) | ``activation_pending`` (a pending account whose link still works;
    once none does, a new registration replaces it) | ``invalid`` with fields (``username_taken``, ``invalid_mobile``,
    ``accept_declaration``: ``required`` …) | 429 ``throttled``.
    """
    data = _body(schemas.RegistrationRequestSchema())
    cmd = commands.Register(_identification(data), email=data["email"], mobile=data["mobile"],
                            username=data["username"], language=data["language"], client_ip=client_ip(),
                            accept_declaration=data["accept_declaration"])
    account = _wiring().handle(handlers.register, cmd)
    return jsonify(account_id=account.account_id, email=account.email), 201


@bp.post("/registrations/resend")
def resend_activation():
    """A new activation link for a pending account with this e-mail. 202 ``{}`` whatever matched | 422 ``invalid``
    (``email``: ``invalid_email`` — the form of the address only) | 429 ``{"error": "throttled", "retry_after": 600}``
    (per client, shared with recovery)."""
    data = _body(schemas.ResendRequestSchema())
    _wiring().handle(handlers.resend_activation, commands.ResendActivation(data["email"], client_ip=client_ip()))
    return jsonify({}), 202


@bp.post("/activations/<token>")
def activate(token: str):
    """Follow the activation link: 200 ``{"username": "minta.anna", "account_id": "…", "mobile": "+36301234567",
    "sms": "queued"}`` (the initial password goes by SMS) | 410 ``{"error": "expired" | "used" | "unknown"}``."""
    account = _wiring().handle(handlers.activate, commands.Activate(token))
    return jsonify(schemas.ActivationOutSchema().dump(
        {"username": account.username, "account_id": account.account_id, "mobile": account.mobile, "sms": "queued"}))


@bp.get("/accounts/<account_id>")
def get_account(account_id: str):
    """``{"account_id", "customer_id", "username", "email", "mobile", "language", "status",
    "must_change_password", "sms_status": "ok" | "failed", "created_at"}`` | 404."""
    account = _wiring().handle(handlers.get_account, account_id)
    return jsonify(schemas.AccountOutSchema().dump(account))


# -------------------------------------------------------------------------------------------------- sessions
def _session_json(session_id: str, account) -> dict:
    return {"session_id": session_id, "account_id": account.account_id, "customer_id": account.customer_id,
            "username": account.username, "must_change_password": account.must_change_password,
            "idle_timeout_s": _wiring().settings.session_idle_minutes * 60}


@bp.post("/sessions")
def login():
    """Log in: 201 ``{"session_id", "account_id", "customer_id", "username", "must_change_password",
    "idle_timeout_s"}`` | 401 ``{"error": "invalid_credentials"}`` | 423 ``{"error": "locked", "locked_until": "…"}``
    (with ``lockout_threshold`` and ``lockout_hours``; an unknown username gets 401 and 423 exactly like a known one) | 429 ``{"error": "throttled", "retry_after":
    s}`` (too many failed logins from this client)."""
    data = _body(schemas.LoginRequestSchema())
    session_id, account = _wiring().handle(handlers.login, commands.Login(data["username"], data["password"],
                                                                          client_ip=client_ip()))
    return jsonify(_session_json(session_id, account)), 201


@bp.get("/sessions/<session_id>")
def get_session(session_id: str):
    """A live session (slides its idle timer): 200 ``{"session_id", "account_id", "customer_id", "username",
    "must_change_password", "idle_timeout_s", "declaration_active": true}`` | 404 ``{"error": "expired"}``.
    ``declaration_active``: the customer has an active declaration on electronic communication (the gateway asks
    this for the pages, so ``/home`` needs no call of its own for it)."""
    found = _wiring().handle(handlers.touch_session, commands.TouchSession(session_id))
    answer = _session_json(session_id, found)
    answer["declaration_active"] = found.declaration_active
    return jsonify(answer)


@bp.delete("/sessions/<session_id>")
def logout(session_id: str):
    """Log out: 204, whether or not the session still existed."""
    _wiring().handle(handlers.logout, commands.Logout(session_id))
    return Response(status=204)


@bp.post("/accounts/<account_id>/password")
def change_password(account_id: str):
    """Change the password: 204 | 422 ``invalid`` with ``current_password`` / ``new_password`` errors | 404.
    Ends the account's other sessions; the one kept is ``session_id`` (body) or ``X-Session-ID`` (header), else the
    most recently used."""
    data = _body(schemas.PasswordChangeRequestSchema())
    keep = data.get("session_id") or request.headers.get("X-Session-ID")
    _wiring().handle(handlers.change_password, commands.ChangePassword(
        account_id, data["current_password"], data["new_password"], keep_session_id=keep))
    return Response(status=204)


@bp.post("/recovery")
def recovery():
    """Forgotten username or password: 202 ``{}`` whatever matched | 422 ``invalid`` (``email``: ``invalid_email``,
    ``mobile``: ``invalid_mobile`` — the form only, the same for everyone) | 429 ``{"error": "throttled",
    "retry_after": s}`` (per client, shared with resend; the same for everyone)."""
    data = _body(schemas.RecoveryRequestSchema())
    _wiring().handle(handlers.request_recovery, commands.RequestRecovery(data["email"], data["mobile"],
                                                                         client_ip=client_ip()))
    return jsonify({}), 202


@bp.post("/accounts/<account_id>/close")
def close_account(account_id: str):
    """Terminate the registration (and withdraw the active declaration: documents go by post again): 204 |
    422 ``{"error": "invalid", "fields": {"password": [...]}}`` | 404."""
    data = _body(schemas.CloseRequestSchema())
    _wiring().handle(handlers.close_account, commands.CloseAccount(account_id, data["password"]))
    return Response(status=204)


# ---------------------------------------------------------------------------- callback requests, contact data
@bp.post("/callback-requests")
def request_callback():
    """"Kérdésem van": 201 ``{"request_id", "due_on": "2026-12-08", "email", "created": true}`` (200 with
    ``created: false`` for an ``idempotency_key`` seen before: one request per form) | 422 ``invalid`` with fields |
    429 ``throttled`` (new requests per client)."""
    data = _body(schemas.CallbackRequestSchema())
    cmd = commands.RequestCallback(client_ip=client_ip(), **data)
    request_, created = _wiring().handle(contact.request_callback, cmd)
    out = schemas.CallbackCreatedSchema().dump({"request_id": request_.request_id, "due_on": request_.due_on,
                                                "email": request_.email, "created": created})
    return jsonify(out), 201 if created else 200


@bp.post("/accounts/<account_id>/email-change")
def request_email_change(account_id: str):
    """A confirmation link to the new address: 202 ``{"kind": "email", "new_value", "expires_at"}`` | 422 ``invalid``
    (``password``: wrong_password, ``email``: invalid_email | same_email) | 404."""
    data = _body(schemas.EmailChangeRequestSchema())
    change = _wiring().handle(contact.request_email_change,
                              commands.RequestEmailChange(account_id, data["password"], data["email"]))
    return jsonify(schemas.ContactChangeOutSchema().dump(change)), 202


@bp.post("/email-changes/<token>")
def confirm_email_change(token: str):
    """Follow the link: 200 the account (with its new ``email``) | 410 ``expired | used | unknown``."""
    account = _wiring().handle(contact.confirm_email_change, commands.ConfirmEmailChange(token))
    return jsonify(schemas.AccountOutSchema().dump(account))


@bp.post("/accounts/<account_id>/mobile-change")
def request_mobile_change(account_id: str):
    """A code by SMS to the new number: 202 ``{"kind": "mobile", "new_value", "expires_at"}`` | 422 ``invalid``
    (``password``, ``mobile``: invalid_mobile | same_mobile) | 404."""
    data = _body(schemas.MobileChangeRequestSchema())
    change = _wiring().handle(contact.request_mobile_change,
                              commands.RequestMobileChange(account_id, data["password"], data["mobile"]))
    return jsonify(schemas.ContactChangeOutSchema().dump(change)), 202


@bp.post("/accounts/<account_id>/mobile-change/confirm")
def confirm_mobile_change(account_id: str):
    """The code from the SMS: 200 the account | 422 ``invalid`` (``code``: wrong_code) | 410 ``expired`` (no pending
    change, timed out, or too many wrong codes: ask for a new one) | 404."""
    data = _body(schemas.MobileCodeSchema())
    account = _wiring().handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account_id, data["code"]))
    return jsonify(schemas.AccountOutSchema().dump(account))


@bp.put("/accounts/<account_id>/language")
def set_language(account_id: str):
    """The language of the customer's e-mails and SMS: 200 the account | 422 | 404."""
    data = _body(schemas.LanguageRequestSchema())
    account = _wiring().handle(contact.set_language, commands.SetLanguage(account_id, data["language"]))
    return jsonify(schemas.AccountOutSchema().dump(account))


def create_app(database_url: str | None = None, *, directory: PolicyDirectory | None = None,
               clock: Clock | None = None, hasher: PasswordHasher | None = None, settings: Settings | None = None):
    wiring = bootstrap(database_url, directory=directory, clock=clock, hasher=hasher, settings=settings)
    default_sealer()  # the API seals activation links and passwords: a missing or demo key stops it at start
    app = service_app(SERVICE, checks={"database": lambda: ping(wiring.engine)}, import_name=__name__)
    app.extensions["identity"] = wiring
    app.register_blueprint(bp)
    return app
