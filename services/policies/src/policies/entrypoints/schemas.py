"""Wire schemas. Consumers declare only the fields they read and ignore the rest (``unknown = EXCLUDE``)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

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

    policy_number = fields.String()
    product = fields.String()
    status = fields.String()
    payment_method = fields.String()
    premium = fields.Function(lambda p: {"amount": p.premium_amount, "frequency": p.premium_frequency})
    start_date = fields.Date()
    customer_id = fields.String()
    epost = fields.Boolean()
    enrollable = fields.Boolean()
    qualifies_for_registration = fields.Boolean()
    updated_at = fields.DateTime()


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
    customer_id = fields.String()
    email = fields.String(allow_none=True)
    mobile = fields.String(allow_none=True)
    may_register = fields.Boolean()
    policies = fields.List(fields.Nested(PolicyOutSchema))


class EnrolRequestSchema(Schema):
    """Example: ``{"customer_id": "C-1001"}``"""

    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
