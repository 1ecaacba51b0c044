"""Wire schemas. Consumers declare only the fields they read and ignore the rest (``unknown = EXCLUDE``)."""
from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate

from ..domain import model


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class PremiumSchema(_Lenient):
    amount = fields.Integer(required=True, validate=validate.Range(min=0))
    frequency = fields.String(required=True, validate=validate.OneOf(model.FREQUENCIES))


class PolicyholderInSchema(_Lenient):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    birth_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    birth_date = fields.Date(required=True)
    birth_place = fields.String(required=True, validate=validate.Length(min=1, max=200))
    mother_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default=None, allow_none=True)
    mobile = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))


class PolicyUpsertedSchema(_Lenient):
    """``policy.upserted`` v1 as this service reads it (contracts/events/policy.upserted.v1.json)."""

    policy_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    product = fields.String(required=True, validate=validate.OneOf(model.PRODUCTS))
    status = fields.String(required=True, validate=validate.OneOf(model.STATUSES))
    payment_method = fields.String(required=True, validate=validate.OneOf(model.PAYMENT_METHODS))
    premium = fields.Nested(PremiumSchema, required=True)
    start_date = fields.Date(required=True)
    policyholder = fields.Nested(PolicyholderInSchema, required=True)
    updated_at = fields.AwareDateTime(required=True)


class PolicyholderOutSchema(Schema):
    customer_id = fields.String()
    name = fields.String()
    birth_name = fields.String()
    birth_date = fields.Date()
    birth_place = fields.String()
    mother_name = fields.String()
    email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)


class PolicyOutSchema(Schema):
    """A policy as the internal API returns it.

    Example: ``{"policy_number": "KGFB-1001", "product": "kgfb", "status": "active",
    "payment_method": "bank_transfer", "premium": {"amount": 48000, "frequency": "annual"},
    "start_date": "2024-03-01", "customer_id": "C-1001", "epost": true, "enrollable": false,
    "qualifies_for_registration": true, "updated_at": "2026-11-01T10:00:00+00:00"}``
    """

    # Validators do not run on dump: they are here so the OpenAPI document lists the values.
    policy_number = fields.String()
    product = fields.String(validate=validate.OneOf(model.PRODUCTS))
    status = fields.String(validate=validate.OneOf(model.STATUSES))
    payment_method = fields.String(validate=validate.OneOf(model.PAYMENT_METHODS))
    premium = fields.Function(
        lambda p: {"amount": p.premium_amount, "frequency": p.premium_frequency},
        metadata={"type": "object", "required": ["amount", "frequency"], "properties": {
            "amount": {"type": "integer", "description": "premium per period, whole forints (HUF)"},
            "frequency": {"type": "string", "enum": list(model.FREQUENCIES)}}})
    start_date = fields.Date()
    customer_id = fields.String()
    epost = fields.Boolean(metadata={"description": "the policy's documents come electronically (ePosta)"})
    enrollable = fields.Boolean(metadata={"description": "may join ePosta now (active, eligible product, not yet in)"})
    qualifies_for_registration = fields.Boolean(
        metadata={"description": "active, kgfb/casco/home/business, paid by direct debit or bank transfer"})
    updated_at = fields.DateTime(metadata={"description": "the core system's updated_at of this state"})


class PolicyDetailSchema(PolicyOutSchema):
    """``GET /internal/policies/<n>``: a policy with its holder's master data."""

    policyholder = fields.Nested(PolicyholderOutSchema)


class PoliciesOutSchema(Schema):
    """Example: ``{"policies": [{"policy_number": "KGFB-1001", ...}]}``"""

    policies = fields.List(fields.Nested(PolicyOutSchema))


class ErrorSchema(Schema):
    """Every error: ``{"error": "no_match"}`` or ``{"error": "not_found", "message": "..."}``; 422 adds ``fields``."""

    class Meta:
        unknown = INCLUDE  # documents that errors may carry more (correlation_id on a 500)

    error = fields.String(required=True)
    message = fields.String()
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.List(fields.String()))


class MatchRequestSchema(Schema):
    """Example: ``{"policy_number": "KGFB-1001", "name": "Minta Anna", "birth_name": "Minta Anna",
    "birth_date": "1985-04-12", "birth_place": "Szeged", "mother_name": "Példa Mária"}``"""

    policy_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    birth_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    birth_date = fields.Date(required=True)
    birth_place = fields.String(required=True, validate=validate.Length(min=1, max=200))
    mother_name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class MatchResponseSchema(Schema):
    """Example: ``{"customer_id": "C-1001", "email": "anna@example.com", "mobile": "+36301234567",
    "may_register": true, "policies": [...]}`` (``may_register``: at least one policy qualifies)."""

    customer_id = fields.String()
    email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    may_register = fields.Boolean()
    policies = fields.List(fields.Nested(PolicyOutSchema))


class EnrolRequestSchema(Schema):
    """Example: ``{"customer_id": "C-1001"}``"""

    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
