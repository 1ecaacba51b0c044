"""Tables and the imperative mapping of the domain classes (the domain stays free of SQLAlchemy)."""
from __future__ import annotations

import functools

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry

from portal_common.db import UTCDateTime, plumbing_tables

from ..domain import callbacks, model

metadata = MetaData()
mapper_registry = registry(metadata=metadata)

OPEN_ACCOUNT = "status NOT IN ('closed', 'expired')"

accounts = Table(
    "accounts", metadata,
    Column("account_id", String(36), primary_key=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("username", String(32), nullable=False),
    Column("username_key", String(32), nullable=False, unique=True),
    Column("email", String(254), nullable=False, index=True),
    Column("mobile", String(16), nullable=False),
    Column("language", String(2), nullable=False),
    Column("status", String(20), nullable=False),
    Column("password_hash", Text),
    Column("must_change_password", Boolean, nullable=False, default=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime()),
    Column("otp_hash", Text),
    Column("otp_expires_at", UTCDateTime()),
    Column("otp_used_at", UTCDateTime()),
    Column("sms_status", String(10), nullable=False, default="ok"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("activated_at", UTCDateTime()),
    Column("password_changed_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    # One open account per customer; a closed one keeps its row (and reserves its username), an expired one (a
    # pending account replaced by a new registration) keeps its row too.
    Index("uq_accounts_open_customer", "customer_id", unique=True,
          postgresql_where=text(OPEN_ACCOUNT), sqlite_where=text(OPEN_ACCOUNT)),
)

activation_tokens = Table(
    "activation_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.account_id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

login_sessions = Table(
    "login_sessions", metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.account_id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
)

declarations = Table(
    "declarations", metadata,
    Column("declaration_id", String(36), primary_key=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("policy_number", String(64), nullable=False),
    Column("email", String(254), nullable=False),
    Column("language", String(2), nullable=False),
    Column("text_version", String(32), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("declared_at", UTCDateTime(), nullable=False),
    Column("withdrawn_at", UTCDateTime()),
    # One active declaration per customer, enforced by the database too (two concurrent requests).
    Index("uq_declarations_active_customer", "customer_id", unique=True,
          postgresql_where=text("withdrawn_at IS NULL"), sqlite_where=text("withdrawn_at IS NULL")),
)

# Failed logins for usernames that have no active account (unknown, pending, closed): counted like an account's, so
# that an unknown name locks at the same attempt as a real one (OWASP ASVS 6.3.8). One row per name, keyed by its
# HMAC (``rules.username_hash``): a typed name may be a password, so it is never stored in clear.
unknown_login_failures = Table(
    "unknown_login_failures", metadata,
    Column("name_hash", String(64), primary_key=True),
    Column("failed_attempts", Integer, nullable=False),
    Column("locked_until", UTCDateTime()),
    Column("last_failed_at", UTCDateTime(), nullable=False, index=True),  # cleanup: rows past their lock
)

# Per-client allowances (the client is the gateway's ``X-Client-IP``): ``identification`` (failed identifications),
# ``recovery`` (recovery and resend requests, every one counts) and ``login_failure`` (failed logins: password
# spraying). One row per attempt: the window slides, and a refusal says when the oldest attempt leaves it.
client_attempts = Table(
    "client_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("client_key", String(100), nullable=False),
    Column("at", UTCDateTime(), nullable=False, index=True),  # cleanup: rows older than the longest window
    Index("ix_client_attempts_kind_client", "kind", "client_key", "at"),
)

# "Kérdésem van": callback requests for the insurer's contact centre (published as customer.callback_requested).
callback_requests = Table(
    "callback_requests", metadata,
    Column("request_id", String(36), primary_key=True),
    Column("idempotency_key", String(64), nullable=False, unique=True),  # one request per submitted form
    Column("client_key", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("email", String(254), nullable=False),
    Column("policy_number", String(64)),
    Column("topic", String(20), nullable=False),
    Column("message", Text, nullable=False),
    Column("preferred_time", String(20), nullable=False),
    Column("language", String(2), nullable=False),
    Column("customer_id", String(64), index=True),
    Column("account_id", String(36)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("due_on", Date, nullable=False),
)

# A new e-mail address or mobile number waiting for its confirmation (link / SMS code).
contact_changes = Table(
    "contact_changes", metadata,
    Column("change_id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.account_id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("new_value", String(254), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
    Column("failed_attempts", Integer, nullable=False, default=0),
)

outbox, processed_messages = plumbing_tables(metadata)

#: unique constraint or index -> the rule it enforces. PostgreSQL names the constraint; SQLite only its columns.
USERNAME, OPEN_ACCOUNT_RULE, ACTIVE_DECLARATION = "username", "open_account", "active_declaration"
UNIQUE_RULES = {
    "accounts_username_key_key": USERNAME, "accounts.username_key": USERNAME,
    "uq_accounts_open_customer": OPEN_ACCOUNT_RULE, "accounts.customer_id": OPEN_ACCOUNT_RULE,
    "uq_declarations_active_customer": ACTIVE_DECLARATION, "declarations.customer_id": ACTIVE_DECLARATION,
}


def unique_rule_of(exc: IntegrityError) -> str | None:
    """Which of :data:`UNIQUE_RULES` a failed commit broke (None: another integrity error)."""
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if name is None:  # SQLite: "UNIQUE constraint failed: accounts.username_key"
        name = str(exc.orig).rpartition(": ")[2].strip()
    return UNIQUE_RULES.get(name)


@functools.cache  # once per process, however many apps and workers a process bootstraps
def start_mappers() -> None:
    mapper_registry.map_imperatively(model.Account, accounts)
    mapper_registry.map_imperatively(model.ActivationToken, activation_tokens)
    mapper_registry.map_imperatively(model.LoginSession, login_sessions)
    mapper_registry.map_imperatively(model.Declaration, declarations)
    mapper_registry.map_imperatively(model.UnknownLogin, unknown_login_failures)
    mapper_registry.map_imperatively(callbacks.CallbackRequest, callback_requests)
    mapper_registry.map_imperatively(model.ContactChange, contact_changes)
