"""Policies, policyholders, outbox and processed messages.

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
        "policyholders",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("birth_name", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("birth_place", sa.String(200), nullable=False),
        sa.Column("mother_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("mobile", sa.String(32)),
        sa.Column("updated_at", UTCDateTime()),
    )
    op.create_table(
        "policies",
        sa.Column("policy_number", sa.String(64), primary_key=True),
        sa.Column("product", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("payment_method", sa.String(20), nullable=False),
        sa.Column("premium_amount", sa.Integer, nullable=False),
        sa.Column("premium_frequency", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("policyholders.customer_id"), nullable=False),
        sa.Column("epost", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_policies_customer_id", "policies", ["customer_id"])
    create_plumbing_tables(op)


def downgrade() -> None:
    drop_plumbing_tables(op)
    op.drop_table("policies")
    op.drop_table("policyholders")
