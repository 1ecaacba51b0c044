"""Commands: what the service is asked to do (imperative names)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IngestDocument:
    """From ``document.uploaded``: take the object out of the inbox and make it the customer's document."""

    document_id: str
    policy_number: str
    customer_id: str
    doc_type: str
    title: str
    uploaded_at: datetime
    bucket: str
    key: str
    content_type: str
    size: int
    sha256: str

    @classmethod
    def from_event(cls, *, document_id, **fields) -> "IngestDocument":
        return cls(document_id=str(document_id), **fields)


@dataclass(frozen=True)
class RecordPolicyOwner:
    policy_number: str
    customer_id: str
    updated_at: datetime

    @classmethod
    def from_event(cls, *, policy_number: str, policyholder: dict, updated_at: datetime) -> "RecordPolicyOwner":
        return cls(policy_number, policyholder["customer_id"], updated_at)


@dataclass(frozen=True)
class RegisterCustomer:
    customer_id: str


@dataclass(frozen=True)
class CloseCustomer:
    customer_id: str
    closed_at: datetime | None = None


@dataclass(frozen=True)
class RecordAnnounced:
    """From ``document.announced`` (notify): the new-document e-mail went out."""

    document_id: str
    customer_id: str
    sent_at: datetime
