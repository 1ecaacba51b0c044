"""Wire schemas. Request errors are *codes* (``required``, ``invalid_mobile`` …) which the API turns into
``{"code", "message_hu", "message_en"}`` objects; consumers declare only the fields they read (``unknown = EXCLUDE``).
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from ..domain import callbacks, model, rules

_ERRORS = {"required": "required", "null": "required", "invalid": "invalid"}


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


def _text_rule(max_len: int):
    def check(value: str) -> None:
        if not value.strip():
            raise ValidationError("required")
        if len(value) > max_len:
            raise ValidationError("too_long_text")

    return check


def _codes(check):
    def run(value: str) -> None:
        codes = check(value)
        if codes:
            raise ValidationError(codes)

    return run


def _mobile_rule(value: str) -> None:
    if rules.normalise_mobile(value) is None:
        raise ValidationError("invalid_mobile")


def Text(max_len: int = 200, **kw):  # noqa: N802 - a field factory reads like a field class
    return fields.String(required=True, validate=_text_rule(max_len), error_messages=_ERRORS, **kw)


def Email(**kw):  # noqa: N802
    return fields.String(required=True, validate=_codes(rules.check_email), error_messages=_ERRORS, **kw)


def Mobile(**kw):  # noqa: N802
    return fields.String(required=True, validate=_mobile_rule, error_messages=_ERRORS, **kw)


def Language():  # noqa: N802
    return fields.String(load_default="hu", validate=validate.OneOf(model.LANGUAGES, error="invalid_language"),
                         error_messages=_ERRORS)


def Secret(**kw):  # noqa: N802 - a password: any characters, only presence is checked here
    return fields.String(required=True, validate=validate.Length(min=1, max=rules.PASSWORD_MAX, error="invalid"),
                         error_messages=_ERRORS, **kw)


# ------------------------------------------------------------------------------------------------------ requests
class IdentificationSchema(_Lenient):
    policy_number = Text(64)
    name = Text()
    birth_name = Text()
    birth_date = fields.Date(required=True, error_messages={**_ERRORS, "invalid": "invalid_date"})
    birth_place = Text()
    mother_name = Text()


class DeclarationRequestSchema(IdentificationSchema):
    """Example: ``{"policy_number": "KGFB-1001", "name": "Minta Anna", "birth_name": "Példa Anna",
    "birth_date": "1985-07-14", "birth_place": "Debrecen", "mother_name": "Teszt Mária",
    "email": "anna@example.com", "language": "hu"}``"""

    email = Email()
    language = Language()


class RegistrationRequestSchema(DeclarationRequestSchema):
    """As a declaration, plus ``"mobile": "06 30 123 4567"`` (normalised to ``+36301234567``),
    ``"username": "minta.anna"`` and ``"accept_declaration": true`` (the user accepted the declaration on electronic
    communication; required — ``{"code": "required"}`` on this field — when the customer has no active one)."""

    mobile = Mobile()
    username = fields.String(required=True, validate=_codes(rules.check_username), error_messages=_ERRORS)
    accept_declaration = fields.Boolean(load_default=False, error_messages=_ERRORS,
                                        metadata={"description": "Required (true) when the customer has no active "
                                                                 "declaration; it is recorded with channel "
                                                                 "\"registration\"."})

    @post_load
    def _normalise(self, data, **_):
        data["mobile"] = rules.normalise_mobile(data["mobile"])
        data["username"] = data["username"].strip()
        return data


class IdentifiedWithdrawalRequestSchema(IdentificationSchema):
    """Withdrawal without a portal login. Example: ``{"policy_number": "KGFB-1001", "name": "Minta Anna",
    "birth_name": "Példa Anna", "birth_date": "1985-07-14", "birth_place": "Debrecen", "mother_name": "Teszt Mária"}``
    """


class ResendRequestSchema(_Lenient):
    """Example: ``{"email": "anna@example.com"}``"""

    email = Email()


class LoginRequestSchema(_Lenient):
    """Example: ``{"username": "minta.anna", "password": "…"}``"""

    username = fields.String(required=True, validate=validate.Length(max=200, error="invalid"), error_messages=_ERRORS)
    password = Secret()


class PasswordChangeRequestSchema(_Lenient):
    """Example: ``{"current_password": "…", "new_password": "…", "session_id": "…(optional: the session to keep)"}``"""

    current_password = Secret()
    new_password = Secret()
    session_id = fields.String(load_default=None, allow_none=True)


class RecoveryRequestSchema(_Lenient):
    """Example: ``{"email": "anna@example.com", "mobile": "+36 30 123 4567"}``. Answers 202 ``{}`` whatever it
    finds; only a missing field or one that is not an address / a Hungarian mobile number is an error."""

    email = Email()
    mobile = Mobile()


class CloseRequestSchema(_Lenient):
    """Example: ``{"password": "…"}``"""

    password = Secret()


def _phone_rule(value: str) -> None:
    if rules.normalise_phone(value) is None:
        raise ValidationError("invalid_phone")


def _idempotency_key_rule(value: str) -> None:
    if not callbacks.valid_idempotency_key(value):
        raise ValidationError("invalid")


def _optional_text(max_len: int):
    def check(value: str | None) -> None:
        if value is not None and len(value) > max_len:
            raise ValidationError("too_long_text")

    return check


class CallbackRequestSchema(_Lenient):
    """"Kérdésem van". Example: ``{"idempotency_key": "3f2b9c0e8d7a4b61a5c4", "name": "Minta Anna",
    "phone": "+36 30 123 4567", "email": "anna@example.com", "policy_number": "KGFB-1001", "topic": "claim",
    "message": "Kérdésem van a kárbejelentésről.", "preferred_time": "morning", "language": "hu",
    "account_id": null}``. ``account_id``: the logged-in customer's account (the gateway sets it from the session)."""

    idempotency_key = fields.String(required=True, error_messages=_ERRORS, validate=_idempotency_key_rule)
    name = Text(callbacks.NAME_MAX)
    phone = fields.String(required=True, validate=_phone_rule, error_messages=_ERRORS)
    email = Email()
    policy_number = fields.String(load_default=None, allow_none=True, validate=_optional_text(callbacks.POLICY_MAX))
    topic = fields.String(required=True, validate=validate.OneOf(callbacks.TOPICS, error="invalid_choice"),
                          error_messages=_ERRORS)
    message = Text(callbacks.MESSAGE_MAX)
    preferred_time = fields.String(load_default="any", error_messages=_ERRORS,
                                   validate=validate.OneOf(callbacks.TIMES_OF_DAY, error="invalid_choice"))
    language = Language()
    account_id = fields.String(load_default=None, allow_none=True)

    @post_load
    def _normalise(self, data, **_):
        data["phone"] = rules.normalise_phone(data["phone"])
        data["name"] = " ".join(data["name"].split())
        data["policy_number"] = (data.get("policy_number") or "").strip() or None
        return data


class EmailChangeRequestSchema(_Lenient):
    """Example: ``{"password": "…", "email": "anna.uj@example.com"}``"""

    password = Secret()
    email = Email()


class MobileChangeRequestSchema(_Lenient):
    """Example: ``{"password": "…", "mobile": "06 20 987 6543"}`` (normalised to ``+36209876543``)"""

    password = Secret()
    mobile = Mobile()

    @post_load
    def _normalise(self, data, **_):
        data["mobile"] = rules.normalise_mobile(data["mobile"])
        return data


class MobileCodeSchema(_Lenient):
    """Example: ``{"code": "493027"}`` (the code from the SMS sent to the new number)"""

    code = fields.String(required=True, validate=validate.Length(min=1, max=20, error="invalid"),
                         error_messages=_ERRORS)


class LanguageRequestSchema(_Lenient):
    """Example: ``{"language": "en"}``"""

    language = fields.String(required=True, validate=validate.OneOf(model.LANGUAGES, error="invalid_language"),
                             error_messages=_ERRORS)


# ----------------------------------------------------------------------------------------------------- responses
class CallbackCreatedSchema(Schema):
    """``{"request_id": "…", "due_on": "2026-12-08", "created": true}`` (``created`` false: the same form again)"""

    request_id = fields.String()
    due_on = fields.Date()
    email = fields.String()
    created = fields.Boolean()


class ContactChangeOutSchema(Schema):
    """``{"kind": "email", "new_value": "anna.uj@example.com", "expires_at": "…"}``"""

    kind = fields.String(metadata={"enum": [model.EMAIL_CHANGE, model.MOBILE_CHANGE]})
    new_value = fields.String()
    expires_at = fields.DateTime()


class FieldErrorSchema(Schema):
    code = fields.String(metadata={"example": "too_short"})
    message_hu = fields.String()
    message_en = fields.String()


class ErrorSchema(Schema):
    """``{"error": "identification_failed"}``; field errors: ``{"error": "invalid", "fields": {"new_password":
    [{"code": "too_short", "message_hu": "…", "message_en": "…"}]}}``; 429 adds ``retry_after`` (seconds), 423 adds
    ``locked_until``."""

    error = fields.String(required=True)
    fields_ = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FieldErrorSchema)),
                          data_key="fields")
    retry_after = fields.Integer()
    locked_until = fields.DateTime()
    lockout_threshold = fields.Integer()
    lockout_hours = fields.Integer()


class DeclarationCreatedSchema(Schema):
    declaration_id = fields.String()
    customer_id = fields.String()


class DeclarationOutSchema(Schema):
    declaration_id = fields.String()
    customer_id = fields.String()
    policy_number = fields.String()
    email = fields.String()
    language = fields.String()
    text_version = fields.String()
    channel = fields.String()
    declared_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    active = fields.Boolean()


class WithdrawalOutSchema(Schema):
    declaration_id = fields.String()
    customer_id = fields.String()
    withdrawn_at = fields.DateTime()


class RegistrationCreatedSchema(Schema):
    account_id = fields.String()
    email = fields.String()


class ActivationOutSchema(Schema):
    username = fields.String()
    account_id = fields.String()
    mobile = fields.String(metadata={"example": "+36301234567"})
    sms = fields.String(metadata={"example": "queued"})


class AccountOutSchema(Schema):
    account_id = fields.String()
    customer_id = fields.String()
    username = fields.String()
    email = fields.String()
    mobile = fields.String()
    language = fields.String()
    status = fields.String(metadata={"enum": [model.PENDING, model.ACTIVE, model.CLOSED, model.EXPIRED]})
    must_change_password = fields.Boolean()
    sms_status = fields.String(metadata={"enum": [model.SMS_OK, model.SMS_FAILED]})
    created_at = fields.DateTime()


class RulesOutSchema(Schema):
    """The numbers the pages show (from identity's settings)."""

    lockout_threshold = fields.Integer(metadata={"example": 3})
    lockout_hours = fields.Integer(metadata={"example": 24})
    activation_ttl_hours = fields.Integer(metadata={"example": 24})
    otp_ttl_hours = fields.Integer(metadata={"example": 24})
    session_idle_minutes = fields.Integer(metadata={"example": 15})
    password_min_length = fields.Integer(metadata={"example": 12})
    callback_working_days = fields.Integer(metadata={"example": 2})
    email_change_ttl_hours = fields.Integer(metadata={"example": 24})
    mobile_code_ttl_minutes = fields.Integer(metadata={"example": 15})


class SessionOutSchema(Schema):
    session_id = fields.String()
    account_id = fields.String()
    customer_id = fields.String()
    username = fields.String()
    must_change_password = fields.Boolean()
    idle_timeout_s = fields.Integer()
    declaration_active = fields.Boolean(metadata={
        "description": "only in the answer of GET /internal/sessions/{session_id}: the customer has an active "
                       "declaration on electronic communication"})


# --------------------------------------------------------------------------------------------- consumed events
class PolicyUpsertedSchema(_Lenient):
    """``policy.upserted`` v1 as identity reads it: nothing but its key (the handler is a deliberate no-op)."""

    policy_number = fields.String(required=True)


class NotificationFailedSchema(_Lenient):
    """``notification.failed`` v1 as identity reads it."""

    channel = fields.String(required=True)
    template = fields.String(load_default="", allow_none=True)
    cause_event = fields.String(load_default=None, allow_none=True)
    account_id = fields.String(load_default=None, allow_none=True)
