"""Identity's cleanup on real PostgreSQL with a controllable clock: throttle rows, unknown-login counters, idle
sessions and spent tokens go once they can no longer matter; everything still in force stays."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from identity.adapters import housekeeping, orm
from identity.bootstrap import bootstrap
from identity.settings import Settings
from portal_common.housekeeping import Housekeeper, plumbing_rules

pytestmark = pytest.mark.database
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
H, D = timedelta(hours=1), timedelta(days=1)


@pytest.fixture
def wiring(database_url):
    w = bootstrap(database_url)
    with w.engine.begin() as conn:
        conn.execute(text("TRUNCATE client_attempts, unknown_login_failures, login_sessions, "
                          "activation_tokens, contact_changes, accounts, outbox, processed_messages CASCADE"))
    yield w
    w.engine.dispose()


def keys(wiring, column):
    with wiring.engine.connect() as conn:
        return sorted(conn.execute(select(column)).scalars())


def test_housekeeping_removes_what_can_no_longer_matter_and_keeps_what_is_in_force(wiring):
    with wiring.engine.begin() as conn:
        conn.execute(orm.accounts.insert().values(
            account_id="a1", customer_id="C-1", username="anna", username_key="anna", email="a@example.org",
            mobile="+36301234567", language="hu", status="active", must_change_password=False, failed_attempts=0,
            sms_status="ok", created_at=NOW - 90 * D))
        conn.execute(orm.client_attempts.insert(), [
            {"kind": "identification", "client_key": "old", "at": NOW - 2 * D},
            {"kind": "identification", "client_key": "recent", "at": NOW - H},
            {"kind": "recovery", "client_key": "old", "at": NOW - 2 * D},
            {"kind": "login_failure", "client_key": "recent", "at": NOW - 10 * timedelta(minutes=1)}])
        conn.execute(orm.unknown_login_failures.insert(), [
            {"name_hash": "lock-ran-out", "failed_attempts": 3, "locked_until": NOW - H, "last_failed_at": NOW - D},
            {"name_hash": "still-locked", "failed_attempts": 3, "locked_until": NOW + H, "last_failed_at": NOW - H},
            {"name_hash": "two-failures-long-ago", "failed_attempts": 2, "locked_until": None,
             "last_failed_at": NOW - 31 * D},
            {"name_hash": "two-failures-lately", "failed_attempts": 2, "locked_until": None,
             "last_failed_at": NOW - 29 * D}])
        conn.execute(orm.login_sessions.insert(), [
            {"session_hash": "idle-two-days", "account_id": "a1", "created_at": NOW - 3 * D, "last_seen_at": NOW - 2 * D},
            {"session_hash": "active", "account_id": "a1", "created_at": NOW - H, "last_seen_at": NOW}])
        conn.execute(orm.activation_tokens.insert(), [
            {"token_hash": "used-long-ago", "account_id": "a1", "created_at": NOW - 60 * D,
             "expires_at": NOW - 59 * D, "used_at": NOW - 60 * D},
            {"token_hash": "expired-long-ago", "account_id": "a1", "created_at": NOW - 40 * D,
             "expires_at": NOW - 39 * D, "used_at": None},
            {"token_hash": "expired-last-week", "account_id": "a1", "created_at": NOW - 8 * D,
             "expires_at": NOW - 7 * D, "used_at": None},
            {"token_hash": "valid", "account_id": "a1", "created_at": NOW - H, "expires_at": NOW + 23 * H, "used_at": None}])
        conn.execute(orm.contact_changes.insert(), [
            {"change_id": "confirmed-long-ago", "account_id": "a1", "kind": "email", "new_value": "b@example.org",
             "secret_hash": "h1", "created_at": NOW - 40 * D, "expires_at": NOW - 39 * D,
             "confirmed_at": NOW - 40 * D, "failed_attempts": 0},
            {"change_id": "code-waiting", "account_id": "a1", "kind": "mobile", "new_value": "+36201234567",
             "secret_hash": "h2", "created_at": NOW - H, "expires_at": NOW + H, "confirmed_at": None,
             "failed_attempts": 1}])

    keeper = Housekeeper("identity", wiring.session_factory,
                         [*plumbing_rules(), *housekeeping.rules(Settings())], clock=lambda: NOW)
    removed = keeper.run_once()

    assert keys(wiring, orm.client_attempts.c.client_key) == ["recent", "recent"]
    assert keys(wiring, orm.unknown_login_failures.c.name_hash) == ["still-locked", "two-failures-lately"]
    assert keys(wiring, orm.login_sessions.c.session_hash) == ["active"]
    assert keys(wiring, orm.activation_tokens.c.token_hash) == ["expired-last-week", "valid"]
    assert keys(wiring, orm.contact_changes.c.change_id) == ["code-waiting"]
    assert removed == {"outbox": 0, "processed_messages": 0, "client_attempts": 2,
                       "unknown_login_failures": 2, "login_sessions": 1, "activation_tokens": 2,
                       "contact_changes": 1}
