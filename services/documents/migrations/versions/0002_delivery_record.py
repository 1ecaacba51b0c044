"""The delivery record on each document (announced, first opened, downloaded) and the expiry reminder.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from portal_common.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = ("announced_at", "first_opened_at", "first_downloaded_at", "last_downloaded_at", "reminder_sent_at")


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("download_count", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("download_count")
        for name in reversed(COLUMNS):
            batch.drop_column(name)
