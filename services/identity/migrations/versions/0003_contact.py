"""Callback requests ("Kérdésem van") and pending contact changes (new e-mail address / mobile number).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from portal_common.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("client_key", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("policy_number", sa.String(64)),
        sa.Column("topic", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("preferred_time", sa.String(20), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("customer_id", sa.String(64)),
        sa.Column("account_id", sa.String(36)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
    )
    op.create_index("ix_callback_requests_customer_id", "callback_requests", ["customer_id"])
    op.create_table(
        "contact_changes",
        sa.Column("change_id", sa.String(36), primary_key=True),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("new_value", sa.String(254), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_contact_changes_account_id", "contact_changes", ["account_id"])


def downgrade() -> None:
    op.drop_table("contact_changes")
    op.drop_table("callback_requests")
