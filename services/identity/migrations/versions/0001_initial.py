"""Accounts, activation tokens, login sessions, declarations, identification failures, outbox, processed messages.

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
        "accounts",
        sa.Column("account_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("username_key", sa.String(32), nullable=False, unique=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("mobile", sa.String(16), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("otp_hash", sa.Text),
        sa.Column("otp_expires_at", UTCDateTime()),
        sa.Column("otp_used_at", UTCDateTime()),
        sa.Column("sms_status", sa.String(10), nullable=False, server_default="ok"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("activated_at", UTCDateTime()),
        sa.Column("password_changed_at", UTCDateTime()),
        sa.Column("closed_at", UTCDateTime()),
    )
    op.create_index("ix_accounts_customer_id", "accounts", ["customer_id"])
    op.create_index("ix_accounts_email", "accounts", ["email"])
    op.create_index("uq_accounts_open_customer", "accounts", ["customer_id"], unique=True,
                    postgresql_where=sa.text("status <> 'closed'"), sqlite_where=sa.text("status <> 'closed'"))
    op.create_table(
        "activation_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_index("ix_activation_tokens_account_id", "activation_tokens", ["account_id"])
    op.create_table(
        "login_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_login_sessions_account_id", "login_sessions", ["account_id"])
    op.create_table(
        "declarations",
        sa.Column("declaration_id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("policy_number", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("text_version", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("declared_at", UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime()),
    )
    op.create_index("ix_declarations_customer_id", "declarations", ["customer_id"])
    op.create_index("uq_declarations_active_customer", "declarations", ["customer_id"], unique=True,
                    postgresql_where=sa.text("withdrawn_at IS NULL"), sqlite_where=sa.text("withdrawn_at IS NULL"))
    op.create_table(
        "identification_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_key", sa.String(100), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_identification_failures_client", "identification_failures", ["client_key", "failed_at"])
    create_plumbing_tables(op)


def downgrade() -> None:
    drop_plumbing_tables(op)
    op.drop_table("identification_failures")
    op.drop_table("declarations")
    op.drop_table("login_sessions")
    op.drop_table("activation_tokens")
    op.drop_table("accounts")
