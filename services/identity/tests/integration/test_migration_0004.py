"""Migration 0004 on real PostgreSQL: the clear usernames typed at login become their keyed hashes, the
identification failures move into the one throttle table, argon2 one-time passwords stop working."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from identity.domain import rules
from portal_common.testing import temp_postgres_database

from .conftest import ALEMBIC_INI

pytestmark = pytest.mark.database

KEY = "migration-test-key"


def alembic(url: str, target: str) -> None:
    env = dict(os.environ, ALEMBIC_DATABASE_URL=url, PORTAL_USERNAME_HASH_KEY=KEY)
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", target], env=env,
                          cwd=ALEMBIC_INI.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_clear_names_become_keyed_hashes_and_throttle_rows_move():
    with temp_postgres_database("identity_mig") as url:
        alembic(url, "0003")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO unknown_login_failures VALUES ('jelszo123', 3, now() + interval '1 day', "
                              "now())"))
            conn.execute(text("INSERT INTO identification_failures (client_key, failed_at) "
                              "VALUES ('203.0.113.9', now())"))
            conn.execute(text(
                "INSERT INTO accounts (account_id, customer_id, username, username_key, email, mobile, language, "
                "status, must_change_password, failed_attempts, sms_status, created_at, otp_hash, otp_expires_at) "
                "VALUES ('a1', 'C-1', 'anna', 'anna', 'a@example.com', '+36301234567', 'hu', 'active', false, 0, "
                "'ok', now(), '$argon2id$v=19$m=65536,t=3,p=4$x$y', now() + interval '1 day')"))
        alembic(url, "head")
        with engine.connect() as conn:
            [row] = conn.execute(text("SELECT * FROM unknown_login_failures")).mappings().all()
            attempts = conn.execute(text("SELECT kind, client_key FROM client_attempts")).all()
            otp = conn.execute(text("SELECT otp_hash FROM accounts")).scalar_one()
        engine.dispose()
    assert row["name_hash"] == rules.username_hash(KEY, "jelszo123") and row["failed_attempts"] == 3
    assert "jelszo123" not in str(dict(row))
    assert [tuple(a) for a in attempts] == [("identification", "203.0.113.9")]
    assert otp is None
