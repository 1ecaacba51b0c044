"""Expired pending accounts, failed logins of unknown usernames, per-client allowances (recovery, failed logins).

- ``uq_accounts_open_customer`` ignores ``expired`` accounts too (a pending account whose activation link expired is
  replaced by a new registration of the same customer).
- ``unknown_login_failures``: the 3-strike count for usernames without an active account.
- ``client_attempts``: recovery/resend requests and failed logins per client.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

from portal_common.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN_ACCOUNT = "status NOT IN ('closed', 'expired')"
NOT_CLOSED = "status <> 'closed'"


def _open_customer_index(where: str) -> None:
    op.create_index("uq_accounts_open_customer", "accounts", ["customer_id"], unique=True,
                    postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    # An index, not a table constraint: dropped and created again without a table rebuild (SQLite too).
    op.drop_index("uq_accounts_open_customer", table_name="accounts")
    _open_customer_index(OPEN_ACCOUNT)
    op.create_table(
        "unknown_login_failures",
        sa.Column("username_key", sa.String(200), primary_key=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("last_failed_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "client_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("client_key", sa.String(100), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_client_attempts_kind_client", "client_attempts", ["kind", "client_key", "at"])


def downgrade() -> None:
    op.drop_table("client_attempts")
    op.drop_table("unknown_login_failures")
    op.drop_index("uq_accounts_open_customer", table_name="accounts")
    # Expired accounts would break the old index (one not-closed account per customer): they count as closed.
    op.execute("UPDATE accounts SET status = 'closed' WHERE status = 'expired'")
    _open_customer_index(NOT_CLOSED)
