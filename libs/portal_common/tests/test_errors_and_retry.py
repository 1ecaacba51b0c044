"""What a failure means is decided by its type (portal_common.errors), and when to give up by the attempt history in
the message's headers (portal_common.retry) — never by the text of a message."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg2
import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from sqlalchemy import exc as sa_exc

from portal_common.errors import (Kind, PermanentError, PoisonMessage, SchemaViolation, TransientError, classify,
                                  describe, reason_label)
from portal_common.retry import RetryPolicy, decide

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)


def db_error(cls, text: str):
    return cls("SELECT 1", {}, psycopg2.OperationalError(text))


@pytest.mark.parametrize("exc, kind", [
    (PermanentError("sha256 mismatch: …", "sha256_mismatch"), Kind.PERMANENT),
    (PoisonMessage("invalid JSON: …", "not_json"), Kind.PERMANENT),
    (SchemaViolation("schema violation: …"), Kind.PERMANENT),
    (TransientError("unknown policy: KGFB-1 has not been received"), Kind.TRANSIENT),
    (EndpointConnectionError(endpoint_url="http://s3:9000"), Kind.TRANSIENT),
    (ConnectTimeoutError(endpoint_url="http://s3:9000"), Kind.TRANSIENT),
    (ConnectionResetError(104, "Connection reset by peer"), Kind.TRANSIENT),
    (db_error(sa_exc.OperationalError, "FATAL:  the database system is starting up"), Kind.DATABASE),
    (db_error(sa_exc.OperationalError, "FATAL:  sorry, too many clients already"), Kind.DATABASE),
    (db_error(sa_exc.OperationalError, "server closed the connection unexpectedly"), Kind.DATABASE),
    (sa_exc.TimeoutError("QueuePool limit reached"), Kind.DATABASE),
    # a deadlock or a serialization failure: the database answered, two transactions met (retried, not "down")
    (sa_exc.OperationalError("INSERT", {}, psycopg2.errors.DeadlockDetected("deadlock detected")), Kind.TRANSIENT),
    (sa_exc.OperationalError("UPDATE", {}, psycopg2.errors.SerializationFailure("could not serialize access")),
     Kind.TRANSIENT),
    (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")), Kind.UNKNOWN),
    (KeyError("policyholder"), Kind.UNKNOWN),
])
def test_failures_are_classified_by_type(exc, kind):
    assert classify(exc) is kind


def test_an_invalidated_connection_is_the_database_whatever_the_error_class():
    exc = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert classify(exc) is Kind.DATABASE


def test_metric_labels_come_from_the_type_not_the_text():
    assert reason_label(PermanentError("sha256 mismatch: the event says …", "sha256_mismatch")) == "sha256_mismatch"
    assert reason_label(PoisonMessage("header version must be an integer …", "header")) == "header"
    assert reason_label(RuntimeError("anything at all: 42")) == "RuntimeError"


def test_describe_keeps_the_first_line_only():
    exc = db_error(sa_exc.OperationalError, "FATAL:  too many clients\nDETAIL: parameters [secret]")
    assert describe(exc) == "OperationalError: FATAL:  too many clients"


def test_retries_go_through_growing_tiers_and_keep_the_first_failure():
    policy = RetryPolicy(horizon=timedelta(hours=24))
    headers, tiers = {"event": "document.uploaded"}, []
    for n in range(7):
        decision = decide(policy, Kind.TRANSIENT, f"S3 down ({n})", headers, 5, NOW + timedelta(minutes=n))
        tiers.append(decision.tier)
        headers = decision.headers
    assert tiers == [0, 1, 2, 3, 4, 4, 4]  # after the last tier, the last one again
    assert headers["x-attempts"] == 7 and headers["event"] == "document.uploaded"
    assert headers["x-first-failure-reason"] == "S3 down (0)" and headers["x-last-failure-reason"] == "S3 down (6)"
    assert headers["x-first-failure-at"] == NOW.isoformat()


def test_past_the_horizon_the_decision_is_a_dead_letter_with_the_history():
    headers = {"x-attempts": 9, "x-first-failure-reason": "unknown policy: KGFB-1",
               "x-first-failure-at": NOW.isoformat(), "x-death": [{"count": 9}]}
    decision = decide(RetryPolicy(horizon=timedelta(hours=24)), Kind.TRANSIENT, "unknown policy: KGFB-1", headers,
                      5, NOW + timedelta(hours=24, seconds=1))
    assert decision.tier is None
    assert decision.reason.startswith("gave up after 10 attempts over 24.0 h (retry horizon 24.0 h)")
    assert "first failure at 2026-11-21T10:00:00+00:00: unknown policy: KGFB-1" in decision.reason
    assert "x-death" not in decision.headers  # the broker's own bookkeeping is not carried along


def test_an_error_of_unknown_kind_gives_up_after_a_few_deliveries_not_after_the_horizon():
    policy = RetryPolicy(horizon=timedelta(hours=24), unknown_attempts=3)
    first = decide(policy, Kind.UNKNOWN, "KeyError: 'x'", {}, 5, NOW)
    second = decide(policy, Kind.UNKNOWN, "KeyError: 'x'", first.headers, 5, NOW)
    third = decide(policy, Kind.UNKNOWN, "KeyError: 'x'", second.headers, 5, NOW)
    assert (first.tier, second.tier, third.tier) == (0, 1, None)
    assert third.reason == "gave up after 3 attempts: KeyError: 'x'"


def test_the_horizon_is_configurable_per_service(monkeypatch):
    monkeypatch.setenv("PORTAL_RETRY_HORIZON_HOURS", "48")
    monkeypatch.setenv("PORTAL_DOCUMENTS_RETRY_HORIZON_HOURS", "6")
    assert RetryPolicy.from_env("documents").horizon == timedelta(hours=6)
    assert RetryPolicy.from_env("notify").horizon == timedelta(hours=48)
