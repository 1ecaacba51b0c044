"""Wire schemas. Consumers declare only the fields they read and ignore the rest (``unknown = EXCLUDE``).

Addresses are plain strings, not validated e-mails: a message with a malformed address should become a failed
delivery that identity hears about (``notification.failed``), not a dead letter nobody reads.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from ..domain.model import CHANNELS, STATUSES


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


_str = dict(load_default=None, allow_none=True)


class ActivationRequestedSchema(_Lenient):
    account_id = fields.String(required=True)
    customer_id = fields.String(**_str)
    username = fields.String(**_str)
    email = fields.String(**_str)
    language = fields.String(**_str)
    activation_url_sealed = fields.String(required=True)  # v2: sealed for notify (portal_common.sealing)
    expires_at = fields.AwareDateTime(required=True)


class AccountActivatedSchema(_Lenient):
    """v2: contact data only (the password comes in account.initial_password_issued)."""
    account_id = fields.String(required=True)
    customer_id = fields.String(**_str)
    username = fields.String(**_str)
    email = fields.String(**_str)
    mobile = fields.String(**_str)
    language = fields.String(**_str)


class InitialPasswordIssuedSchema(_Lenient):
    account_id = fields.String(required=True)
    customer_id = fields.String(**_str)
    username = fields.String(**_str)
    mobile = fields.String(**_str)
    language = fields.String(**_str)
    initial_password_sealed = fields.String(required=True)


class AccountLockedSchema(_Lenient):
    account_id = fields.String(required=True)
    username = fields.String(**_str)
    email = fields.String(**_str)
    language = fields.String(**_str)
    locked_until = fields.AwareDateTime(required=True)
    failed_attempts = fields.Integer(**_str)


class CredentialsResetSchema(_Lenient):
    account_id = fields.String(required=True)
    username = fields.String(required=True)
    email = fields.String(**_str)
    mobile = fields.String(**_str)
    language = fields.String(**_str)
    one_time_password_sealed = fields.String(required=True)  # v2: sealed for notify
    expires_at = fields.AwareDateTime(**_str)


class PasswordChangedSchema(_Lenient):
    account_id = fields.String(required=True)
    username = fields.String(**_str)
    email = fields.String(**_str)
    language = fields.String(**_str)
    changed_at = fields.AwareDateTime(**_str)


class AccountClosedSchema(_Lenient):
    account_id = fields.String(required=True)
    customer_id = fields.String(**_str)
    email = fields.String(**_str)
    language = fields.String(**_str)
    closed_at = fields.AwareDateTime(**_str)


class CustomerDeclaredSchema(_Lenient):
    customer_id = fields.String(required=True)
    policy_number = fields.String(**_str)
    email = fields.String(required=True)
    language = fields.String(**_str)
    channel = fields.String(**_str)
    declared_at = fields.AwareDateTime(**_str)


class DeclarationWithdrawnSchema(_Lenient):
    customer_id = fields.String(required=True)
    email = fields.String(**_str)
    language = fields.String(**_str)
    withdrawn_at = fields.AwareDateTime(**_str)


class DocumentAvailableSchema(_Lenient):
    document_id = fields.String(required=True)
    customer_id = fields.String(required=True)
    policy_number = fields.String(required=True)
    doc_type = fields.String(required=True)
    title = fields.String(required=True)
    available_until = fields.AwareDateTime(**_str)


class DocumentExpiringSchema(DocumentAvailableSchema):
    reminded_at = fields.AwareDateTime(**_str)


class PolicyEnrolledSchema(_Lenient):
    policy_number = fields.String(required=True)
    customer_id = fields.String(required=True)
    payment_method = fields.String(**_str)
    previous_payment_method = fields.String(**_str)


class CallbackRequestedSchema(_Lenient):
    request_id = fields.String(required=True)
    name = fields.String(**_str)
    phone = fields.String(**_str)
    email = fields.String(**_str)
    policy_number = fields.String(**_str)
    topic = fields.String(**_str)
    preferred_time = fields.String(**_str)
    language = fields.String(**_str)
    customer_id = fields.String(**_str)
    account_id = fields.String(**_str)
    due_on = fields.Date(required=True)
    working_days = fields.Integer(**_str)


class EmailChangeRequestedSchema(_Lenient):
    account_id = fields.String(required=True)
    customer_id = fields.String(**_str)
    username = fields.String(**_str)
    email = fields.String(**_str)
    language = fields.String(**_str)
    confirm_url_sealed = fields.String(required=True)  # v2: sealed for notify
    expires_at = fields.AwareDateTime(**_str)


class MobileChangeRequestedSchema(_Lenient):
    account_id = fields.String(required=True)
    customer_id = fields.String(**_str)
    mobile = fields.String(**_str)
    language = fields.String(**_str)
    code_sealed = fields.String(required=True)  # v2: sealed for notify
    expires_at = fields.AwareDateTime(**_str)


class ContactChangedSchema(_Lenient):
    customer_id = fields.String(required=True)
    account_id = fields.String(**_str)
    email = fields.String(**_str)
    mobile = fields.String(**_str)
    language = fields.String(**_str)
    changed = fields.List(fields.String(), load_default=list)
    declaration_email = fields.String(**_str)
    previous_email = fields.String(**_str)
    previous_mobile = fields.String(**_str)
    changed_at = fields.AwareDateTime(**_str)


class NothingSchema(_Lenient):
    """An event notify receives but does not read (see ``bootstrap.IGNORED``): no field is needed."""


#: Event name -> the schema notify reads it with.
#: The contract version notify reads where it is not 1: v2 carries the secret sealed for notify (issue 8); a v1
#: message (secret in clear) is dead-lettered as an unsupported version.
EVENT_VERSIONS = {"account.activation_requested": 2, "account.activated": 2, "account.credentials_reset": 2,
                  "account.email_change_requested": 2, "account.mobile_change_requested": 2}

EVENT_SCHEMAS = {
    "account.activation_requested": ActivationRequestedSchema,
    "account.activated": AccountActivatedSchema,
    "account.initial_password_issued": InitialPasswordIssuedSchema,
    "account.locked": AccountLockedSchema,
    "account.credentials_reset": CredentialsResetSchema,
    "account.password_changed": PasswordChangedSchema,
    "account.closed": AccountClosedSchema,
    "customer.declared": CustomerDeclaredSchema,
    "customer.declaration_withdrawn": DeclarationWithdrawnSchema,
    "document.available": DocumentAvailableSchema,
    "policy.enrolled": PolicyEnrolledSchema,
    "customer.callback_requested": CallbackRequestedSchema,
    "document.expiring": DocumentExpiringSchema,
    "account.email_change_requested": EmailChangeRequestedSchema,
    "account.mobile_change_requested": MobileChangeRequestedSchema,
    "customer.contact_changed": ContactChangedSchema,
}


# ------------------------------------------------------------------------------------------------ HTTP API
class DeliveriesQuerySchema(Schema):
    """Query string of ``GET /internal/deliveries``: ``?to=anna@example.org&limit=20``."""

    class Meta:
        unknown = EXCLUDE

    to = fields.String(load_default=None, metadata={"description": "exact recipient (e-mail or +36… number)"})
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class DeliveryOutSchema(Schema):
    """One delivery, never its text. Example: ``{"id": "…", "channel": "email", "template": "activation",
    "to": "anna@example.org", "status": "sent", "attempts": 1, "created_at": "2026-11-21T10:00:00+00:00",
    "sent_at": "2026-11-21T10:00:01+00:00", "reason": null}``"""

    id = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    template = fields.String(required=True)
    to = fields.String(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    attempts = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    sent_at = fields.DateTime(allow_none=True)
    reason = fields.String(allow_none=True, attribute="last_error")
    cause_event = fields.String()


class DeliveriesOutSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliveryOutSchema), required=True)


class ErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")
