"""Unknown usernames only as a keyed hash; one throttle table; one-time passwords by SHA-256.

- ``unknown_login_failures`` is keyed by ``name_hash`` = HMAC-SHA256(``PORTAL_USERNAME_HASH_KEY``, lower-cased name)
  instead of the name typed at login (which may be a password). Existing rows are converted with the configured key
  and the clear names dropped. ``last_failed_at`` is indexed (cleanup of rows past their lock).
- ``identification_failures`` becomes ``client_attempts`` rows of kind ``identification`` (one table and one atomic
  path for every per-client limit); ``client_attempts.at`` is indexed (cleanup of rows past the window).
- One-time passwords are stored as SHA-256 (they are random, like tokens): pending ones stored with argon2 cannot
  be converted and stop working; the owner asks for a new one (the old password keeps working meanwhile).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
import hashlib
import hmac
import os

import sqlalchemy as sa
from alembic import op

from portal_common.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: the same default as identity.settings (the embedded run); production sets the variable
DEV_KEY = "dev-only-username-hash-key"


def _key() -> str:
    return (os.environ.get("PORTAL_USERNAME_HASH_KEY") or "").strip() or DEV_KEY


def upgrade() -> None:
    conn = op.get_bind()
    old = conn.execute(sa.text("SELECT username_key, failed_attempts, locked_until, last_failed_at "
                               "FROM unknown_login_failures")).fetchall()
    op.drop_table("unknown_login_failures")
    table = op.create_table(
        "unknown_login_failures",
        sa.Column("name_hash", sa.String(64), primary_key=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("last_failed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_unknown_login_failures_last_failed_at", "unknown_login_failures", ["last_failed_at"])
    key = _key().encode()
    rows = {}
    for r in old:  # names were stored lower-cased and stripped already
        name_hash = hmac.new(key, r.username_key.encode(), hashlib.sha256).hexdigest()
        rows[name_hash] = {"name_hash": name_hash, "failed_attempts": r.failed_attempts,
                           "locked_until": r.locked_until, "last_failed_at": r.last_failed_at}
    if rows:
        op.bulk_insert(table, list(rows.values()))

    op.execute("INSERT INTO client_attempts (kind, client_key, at) "
               "SELECT 'identification', client_key, failed_at FROM identification_failures")
    op.drop_table("identification_failures")
    op.create_index("ix_client_attempts_at", "client_attempts", ["at"])

    op.execute("UPDATE accounts SET otp_hash = NULL, otp_expires_at = NULL, otp_used_at = NULL "
               "WHERE otp_hash LIKE '$argon2%'")


def downgrade() -> None:
    op.drop_index("ix_client_attempts_at", table_name="client_attempts")
    op.create_table(
        "identification_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_key", sa.String(100), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_identification_failures_client", "identification_failures", ["client_key", "failed_at"])
    op.execute("INSERT INTO identification_failures (client_key, failed_at) "
               "SELECT client_key, at FROM client_attempts WHERE kind = 'identification'")
    op.execute("DELETE FROM client_attempts WHERE kind = 'identification'")
    # The names cannot be recovered from their hashes: the counts of unknown usernames start again.
    op.drop_table("unknown_login_failures")
    op.create_table(
        "unknown_login_failures",
        sa.Column("username_key", sa.String(200), primary_key=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("last_failed_at", UTCDateTime(), nullable=False),
    )
