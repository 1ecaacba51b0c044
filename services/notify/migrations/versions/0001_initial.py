"""Deliveries, the contact projection, outbox and processed messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from portal_common.db import UTCDateTime, create_plumbing_tables, drop_plumbing_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("cause_event_id", sa.String(200), nullable=False),
        sa.Column("cause_event", sa.String(100), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("to", sa.String(320), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("subject_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("cause_event_id", "template", "channel", name="uq_deliveries_cause"),
        sa.UniqueConstraint("template", "channel", "subject_key", name="uq_deliveries_subject"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_to", "deliveries", ["to", "created_at"])
    op.create_table(
        "contacts",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("declaration_email", sa.String(320), nullable=True),
        sa.Column("account_email", sa.String(320), nullable=True),
        sa.Column("mobile", sa.String(32), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("declaration_changed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=True),
    )
    create_plumbing_tables(op)


def downgrade() -> None:
    drop_plumbing_tables(op)
    op.drop_table("contacts")
    op.drop_index("ix_deliveries_to", "deliveries")
    op.drop_index("ix_deliveries_due", "deliveries")
    op.drop_table("deliveries")
