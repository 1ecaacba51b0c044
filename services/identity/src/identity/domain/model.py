"""Accounts, declarations, login sessions and activation tokens. Plain Python: no framework imports here."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

PENDING, ACTIVE, CLOSED, EXPIRED = "pending_activation", "active", "closed", "expired"
#: Statuses of an account that no longer blocks a new registration of the same customer.
FINISHED = (CLOSED, EXPIRED)
LANGUAGES = ("hu", "en")
CHANNELS = ("portal", "registration")
SMS_OK, SMS_FAILED = "ok", "failed"


@dataclass(frozen=True)
class FailedLogin:
    """What one wrong password led to: the count of the series, and the lock when there is one."""

    failed_attempts: int
    locked_until: datetime | None
    #: this attempt reached the threshold (the owner is told once per lock)
    locked_now: bool = False
    #: False while locked: the attempt changed nothing (nothing to write, the same for every username)
    counted: bool = True


class LoginLockout:
    """The lockout rule, in one place, for an account and for a username without one alike (OWASP ASVS 6.3.8):
    the ``threshold``-th consecutive wrong password locks for ``lock_for``; while locked nothing counts; after an
    expired lock a new series starts at 1. The caller holds the row lock (the repository's ``for_update``), so
    concurrent attempts are counted one after the other."""

    failed_attempts: int
    locked_until: datetime | None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def record_failed_login(self, now: datetime, threshold: int, lock_for: timedelta) -> FailedLogin:
        if self.is_locked(now):
            return FailedLogin(self.failed_attempts, self.locked_until, counted=False)
        if self.locked_until is not None:  # the lock ended: a new series
            self.failed_attempts, self.locked_until = 0, None
        self.failed_attempts = (self.failed_attempts or 0) + 1
        if self.failed_attempts >= threshold:
            self.locked_until = now + lock_for
            return FailedLogin(self.failed_attempts, self.locked_until, locked_now=True)
        return FailedLogin(self.failed_attempts, None)

    def login_succeeded(self) -> None:
        self.failed_attempts = 0
        self.locked_until = None


@dataclass(eq=False)
class UnknownLogin(LoginLockout):
    """Wrong passwords typed for a username without an active account (unknown, pending, closed). Only a keyed
    hash of the name is kept (it may be a password typed into the wrong field)."""

    name_hash: str
    failed_attempts: int = 0
    locked_until: datetime | None = None
    last_failed_at: datetime | None = None

    def record_failed_login(self, now: datetime, threshold: int, lock_for: timedelta) -> FailedLogin:
        result = super().record_failed_login(now, threshold, lock_for)
        if result.counted:
            self.last_failed_at = now
        return result


@dataclass(eq=False)  # entities: identity is the key, instances go into sets
class Account(LoginLockout):
    account_id: str
    customer_id: str
    username: str
    username_key: str  # lower-cased: usernames are unique case-insensitively
    email: str
    mobile: str
    language: str
    status: str
    created_at: datetime
    password_hash: str | None = None
    must_change_password: bool = False
    failed_attempts: int = 0
    locked_until: datetime | None = None
    otp_hash: str | None = None
    otp_expires_at: datetime | None = None
    otp_used_at: datetime | None = None
    sms_status: str = SMS_OK
    activated_at: datetime | None = None
    password_changed_at: datetime | None = None
    closed_at: datetime | None = None

    def has_valid_otp(self, now: datetime) -> bool:
        """A one-time password that can still log in (issued, not used, not expired)."""
        return (self.otp_hash is not None and self.otp_used_at is None and self.otp_expires_at is not None
                and self.otp_expires_at > now)

    def has_used_otp(self, now: datetime) -> bool:
        """A one-time password that logged in and may still be given as the current password on the forced change."""
        return (self.otp_hash is not None and self.otp_used_at is not None and self.otp_expires_at is not None
                and self.otp_expires_at > now)

    def activate(self, password_hash: str, now: datetime) -> None:
        self.status = ACTIVE
        self.password_hash = password_hash
        self.must_change_password = True  # the initial password travelled by SMS: the owner must choose their own
        self.sms_status = SMS_OK
        self.activated_at = now

    def otp_matches(self, otp_hash: str, now: datetime) -> bool:
        """A one-time password that can still log in, equal to ``otp_hash`` (its SHA-256: it is random, like a
        token, so it needs no slow hash — the login's one argon2 verification is the password's)."""
        return self.has_valid_otp(now) and hmac.compare_digest(self.otp_hash, otp_hash)

    def used_otp_matches(self, otp_hash: str, now: datetime) -> bool:
        """The used one-time password, still accepted as the current password on the forced change."""
        return self.has_used_otp(now) and hmac.compare_digest(self.otp_hash, otp_hash)

    def use_otp(self, now: datetime) -> None:
        """Single use: it logs in once, lifts any lock and forces a new password. Until that change (or its expiry)
        it is still accepted as ``current_password`` on the forced password change."""
        self.otp_used_at = now
        self.must_change_password = True
        self.login_succeeded()

    def set_password(self, password_hash: str, now: datetime) -> None:
        self.password_hash = password_hash
        self.must_change_password = False
        self.password_changed_at = now
        self.otp_hash = self.otp_expires_at = self.otp_used_at = None

    def issue_otp(self, otp_hash: str, expires_at: datetime) -> None:
        # The old password keeps working too; the one-time password is the way back for whoever forgot it.
        self.otp_hash, self.otp_expires_at, self.otp_used_at = otp_hash, expires_at, None

    def expire(self) -> None:
        """A pending account whose activation link expired, replaced by a new registration of the same customer.

        The row stays (the audit trail), but its username is set free: the customer who mistyped their e-mail may
        choose the same name again. ``username_key`` becomes a key no valid username can have (usernames never
        contain ``~``), which keeps the column's unique constraint without a table rebuild."""
        self.status = EXPIRED
        self.username_key = "~" + self.account_id.replace("-", "")[:31]

    def close(self, now: datetime) -> None:
        # The username stays reserved (the row stays, username_key stays unique): nobody can take over a
        # name that e-mails and letters have already been sent under.
        self.status = CLOSED
        self.closed_at = now
        self.otp_hash = self.otp_expires_at = self.otp_used_at = None


@dataclass(eq=False)
class Declaration:
    declaration_id: str
    customer_id: str
    policy_number: str
    email: str
    language: str
    text_version: str
    channel: str
    declared_at: datetime
    withdrawn_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


@dataclass(eq=False)
class LoginSession:
    session_hash: str  # SHA-256 of the opaque id: a database leak does not hand out live sessions
    account_id: str
    created_at: datetime
    last_seen_at: datetime

    def expired(self, now: datetime, idle: timedelta) -> bool:
        return self.last_seen_at + idle <= now


class SessionCheck(NamedTuple):
    """What a page view needs to know about its session, read in one query: the session's idle timer, its account
    (None when the account row is gone) and whether the customer has an active declaration (``/home`` shows a hint
    when not: identity owns declarations, so the answer rides on the session check the gateway makes anyway)."""

    session_hash: str
    last_seen_at: datetime
    account_id: str | None
    customer_id: str | None
    username: str | None
    must_change_password: bool
    status: str | None
    declaration_active: bool

    def expired(self, now: datetime, idle: timedelta) -> bool:
        return self.last_seen_at + idle <= now

    def usable(self, now: datetime, idle: timedelta) -> bool:
        """An active account's session that has not been idle for ``idle``."""
        return self.account_id is not None and self.status == ACTIVE and not self.expired(now, idle)


@dataclass(eq=False)
class ActivationToken:
    token_hash: str
    account_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None  # superseded by a resent link

    def state(self, now: datetime) -> str:
        """``valid`` | ``used`` | ``expired`` (a superseded link counts as expired: ask for a new one)."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None or self.expires_at <= now:
            return "expired"
        return "valid"


EMAIL_CHANGE, MOBILE_CHANGE = "email", "mobile"


@dataclass(eq=False)
class ContactChange:
    """A new e-mail address or mobile number waiting for proof that it reaches the customer: the link sent to the new
    address, or the code sent by SMS to the new number. Until then the old one stays in use."""

    change_id: str
    account_id: str
    kind: str  # EMAIL_CHANGE | MOBILE_CHANGE
    new_value: str
    secret_hash: str  # SHA-256 of the link's token, or of change_id + the SMS code (never stored in clear)
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    revoked_at: datetime | None = None  # superseded by a newer request of the same kind
    failed_attempts: int = 0  # wrong SMS codes

    def state(self, now: datetime, max_attempts: int | None = None) -> str:
        """``valid`` | ``used`` | ``expired`` (superseded, timed out or too many wrong codes)."""
        if self.confirmed_at is not None:
            return "used"
        if self.revoked_at is not None or self.expires_at <= now:
            return "expired"
        if max_attempts is not None and self.failed_attempts >= max_attempts:
            return "expired"
        return "valid"
