"""Wire schemas. Consumers declare only the fields they read and ignore the rest (``unknown = EXCLUDE``)."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from ..domain import model


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


# ---------------------------------------------------------------------------------------------- consumed events
class DocumentUploadedSchema(_Lenient):
    """``document.uploaded`` v1 (contracts/events/document.uploaded.v1.json), published by the core system."""

    document_id = fields.UUID(required=True)
    policy_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    doc_type = fields.String(required=True, validate=validate.OneOf(model.DOC_TYPES))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    uploaded_at = fields.AwareDateTime(required=True)
    bucket = fields.String(required=True, validate=validate.Length(min=3, max=63))
    key = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    # Documents are PDFs (the bytes are checked too): anything else is dead-lettered as invalid.
    content_type = fields.String(required=True, validate=validate.Equal(model.PDF))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class _PolicyholderRef(_Lenient):
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class PolicyUpsertedSchema(_Lenient):
    """``policy.upserted`` v1 as this service reads it: only whose the policy is."""

    policy_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    policyholder = fields.Nested(_PolicyholderRef, required=True)
    updated_at = fields.AwareDateTime(required=True)


class AccountActivatedSchema(_Lenient):
    """``account.activated`` v1: only the customer. (The initial password in it is never read here.)"""

    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))


class AccountClosedSchema(_Lenient):
    """``account.closed`` v1."""

    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    closed_at = fields.AwareDateTime(load_default=None)


class DocumentAnnouncedSchema(_Lenient):
    """``document.announced`` v1 (from notify)."""

    document_id = fields.String(required=True, validate=validate.Length(min=1, max=36))
    customer_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    sent_at = fields.AwareDateTime(required=True)


# ------------------------------------------------------------------------------------------------------ HTTP API
class DocumentListQuerySchema(Schema):
    """``?policy_number=KGFB-1001&doc_type=premium_notice&limit=20&offset=40``"""

    policy_number = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    doc_type = fields.String(load_default=None, validate=validate.OneOf(model.DOC_TYPES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0),
                            metadata={"description": "documents to skip (newest first), for paging"})
    sort = fields.String(load_default="date", validate=validate.OneOf(model.SORTS),
                         metadata={"description": "date (default) | type | policy; ties newest first"})
    order = fields.String(load_default=None, validate=validate.OneOf(("asc", "desc")),
                          metadata={"description": "default: desc for date (newest first), asc for type and policy"})


class ContentQuerySchema(Schema):
    """``?purpose=view`` (opened in the browser) | ``download`` (the default: the file, alone or in a ZIP)."""

    purpose = fields.String(load_default=model.DOWNLOAD, validate=validate.OneOf((model.VIEW, model.DOWNLOAD)))


class DeliveryRecordSchema(Schema):
    """The delivery record of one document: ``{"arrived_at": "…", "announced_at": "…" | null, "first_opened_at",
    "first_downloaded_at", "last_downloaded_at", "download_count": 2, "reminder_sent_at"}``"""

    arrived_at = fields.DateTime(attribute="stored_at")
    announced_at = fields.DateTime(allow_none=True)
    first_opened_at = fields.DateTime(allow_none=True)
    first_downloaded_at = fields.DateTime(allow_none=True)
    last_downloaded_at = fields.DateTime(allow_none=True)
    download_count = fields.Integer()
    reminder_sent_at = fields.DateTime(allow_none=True)


class DocumentOutSchema(Schema):
    """A document's metadata as the internal API returns it.

    Example: ``{"document_id": "3f6c2a9e-8b1d-4c7a-9e52-1d0b7a4f6c21", "title": "Díjértesítő",
    "doc_type": "premium_notice", "policy_number": "KGFB-2024-000123", "uploaded_at": "2026-06-20T07:30:12+00:00",
    "available_until": "2027-07-20T07:30:12+00:00", "expired": false, "read": false, "size": 48213,
    "content_type": "application/pdf", "sha256": "3a01…c1b8"}``
    """

    document_id = fields.String(required=True)
    title = fields.String(required=True)
    doc_type = fields.String(required=True, validate=validate.OneOf(model.DOC_TYPES))
    policy_number = fields.String(required=True)
    uploaded_at = fields.DateTime(required=True)
    available_until = fields.DateTime(required=True)
    expired = fields.Boolean(required=True)
    read = fields.Boolean(required=True)
    size = fields.Integer(required=True)
    content_type = fields.String(required=True)
    sha256 = fields.String(required=True)
    delivery = fields.Nested(DeliveryRecordSchema, metadata={"description": "the delivery record"})


class DocumentListSchema(Schema):
    documents = fields.List(fields.Nested(DocumentOutSchema), required=True)
    unread = fields.Integer(required=True, metadata={"description": "unread documents still available "
                                                                    "(matching the filters, ignoring limit and "
                                                                    "offset)"})
    total = fields.Integer(required=True, metadata={"description": "documents matching the filters, expired ones "
                                                                   "included (ignoring limit and offset)"})


class ErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String()
    available_until = fields.DateTime()
