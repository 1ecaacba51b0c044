"""What a failed message means, by exception *type* (never by its text).

A handler raises one of these, or lets a library's exception through; :func:`classify` decides what the consumer
does with the delivery:

- :class:`PermanentError` (and a :class:`PoisonMessage`, found while decoding): dead-lettered at once, alone,
  with the exception's text as ``x-dead-reason``.
- :class:`TransientError`, a storage endpoint that cannot be reached (botocore connection errors): retried through
  the broker's retry tiers until the retry horizon (default 24 h), then dead-lettered with the attempt history.
- :class:`DatabaseUnavailable` (SQLAlchemy ``OperationalError``, a lost connection, PostgreSQL "the database
  system is starting up" / "too many clients", a pool timeout): the whole batch is held and applied again when the
  database answers; nothing is acked, nothing is redelivered, the delivery limit is not touched.
- :func:`is_conflict` (PostgreSQL ``deadlock detected``, SQLSTATE 40P01, and ``could not serialize access``,
  40001): not the message and not an outage — two transactions met; the consumer rolls the batch back and applies
  it again at once (``consumer_transaction_conflict_retried``). The database is up, so this is never "database
  unavailable", although psycopg2 makes both errors ``OperationalError`` subclasses. A message that
  meets one outside the consumer's batch loop is retried like a :class:`TransientError`.
- anything else (a bug, an unexpected library error): retried through the tiers a few times
  (``PORTAL_RETRY_UNKNOWN_ATTEMPTS``, default 3), then dead-lettered: a bug does not wait 24 hours.

``reason`` is a short, fixed label (``sha256_mismatch``, ``schema``, …) for the metric
``portal_messages_dead_lettered_total{reason=…}``: labels come from code, never from message text.
"""
from __future__ import annotations

from enum import Enum

from sqlalchemy import exc as sa_exc


class _Reasoned(Exception):
    reason = "error"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class PermanentError(_Reasoned):
    """The message can never be applied (schema violation, wrong bucket, checksum mismatch …): dead-letter it."""

    reason = "permanent"


class PoisonMessage(PermanentError):
    """The delivery itself is unreadable: header types, content type, size, nesting, not JSON, unknown event."""

    reason = "poison"


class SchemaViolation(PermanentError):
    reason = "schema"


class TransientError(_Reasoned):
    """A dependency is not ready yet (a policy not known yet, S3 unreachable …): retry later through the broker."""

    reason = "transient"


class DuplicateMessage(Exception):
    """Another consumer committed the same message id first (the ``processed_messages`` primary key)."""


class Kind(Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    DATABASE = "database"
    UNKNOWN = "unknown"


def _transient_library_errors() -> tuple[type[BaseException], ...]:
    """Storage endpoint connection failures. botocore is optional for services that do not use S3."""
    try:
        from botocore import exceptions as boto
    except ImportError:  # pragma: no cover - every image has boto3 today
        return (ConnectionError, TimeoutError)
    return (ConnectionError, TimeoutError, boto.EndpointConnectionError, boto.ConnectionClosedError,
            boto.ReadTimeoutError, boto.ConnectTimeoutError, boto.ProxyConnectionError)


_TRANSIENT = _transient_library_errors()


#: PostgreSQL's SQLSTATEs for "this transaction lost a race, run it again": deadlock_detected, serialization_failure
#: (https://www.postgresql.org/docs/current/errcodes-appendix.html, class 40 — Transaction Rollback)
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})


def _conflict_classes() -> tuple[type[BaseException], ...]:
    try:
        from psycopg2 import errors as pg
    except ImportError:  # pragma: no cover - every image has psycopg2 today
        return ()
    return (pg.DeadlockDetected, pg.SerializationFailure)


_CONFLICTS = _conflict_classes()


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or a serialization failure: this transaction lost a race with another one; run it again."""
    orig = getattr(exc, "orig", None) or exc
    return getattr(orig, "pgcode", None) in CONFLICT_SQLSTATES or isinstance(orig, _CONFLICTS)


def is_database_unavailable(exc: BaseException) -> bool:
    """The database (not the message) is the problem: hold the batch until it answers again."""
    if is_conflict(exc):
        return False  # psycopg2's TransactionRollbackError is an OperationalError, but the database answered
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # PEP 249 OperationalError: connection lost/refused, server starting up, too many clients …
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def classify(exc: BaseException) -> Kind:
    if isinstance(exc, PermanentError):
        return Kind.PERMANENT
    if is_database_unavailable(exc):
        return Kind.DATABASE
    if is_conflict(exc) or isinstance(exc, (TransientError, *_TRANSIENT)):
        return Kind.TRANSIENT
    return Kind.UNKNOWN


def reason_label(exc: BaseException) -> str:
    """A bounded metric label: the exception's declared ``reason``, else its class name."""
    return str(getattr(exc, "reason", None) or type(exc).__name__)[:40]


def describe(exc: BaseException) -> str:
    """``Type: first line`` — for logs and dead-letter reasons (no multi-line SQL with parameters)."""
    if isinstance(exc, (PermanentError, TransientError)):
        return str(exc)
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()
