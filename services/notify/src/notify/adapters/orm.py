"""Tables of the notify service (SQLAlchemy Core; the repository maps rows to the domain's dataclasses)."""
from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from portal_common.db import UTCDateTime, plumbing_tables

metadata = MetaData()

deliveries = Table(
    "deliveries", metadata,
    Column("id", String(36), primary_key=True),
    Column("cause_event_id", String(200), nullable=False),
    Column("cause_event", String(100), nullable=False),
    Column("template", String(64), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("to", String(320), nullable=True),
    Column("language", String(5), nullable=False),
    # What the template needs; secrets (password, OTP, activation link) are blanked once sent or failed.
    Column("payload", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("account_id", String(64), nullable=True),
    Column("customer_id", String(64), nullable=True),
    Column("correlation_id", String(64), nullable=True),
    Column("subject_key", String(200), nullable=True),
    # A redelivered event never creates a second message.
    UniqueConstraint("cause_event_id", "template", "channel", name="uq_deliveries_cause"),
    # Never two messages about one subject (one e-mail per document); NULLs never collide.
    UniqueConstraint("template", "channel", "subject_key", name="uq_deliveries_subject"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_to", "to", "created_at"),
)

contacts = Table(
    "contacts", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("declaration_email", String(320), nullable=True),
    Column("account_email", String(320), nullable=True),
    Column("mobile", String(32), nullable=True),
    Column("language", String(5), nullable=False),
    Column("declaration_changed_at", UTCDateTime(), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=True),
)

outbox, processed_messages = plumbing_tables(metadata)
