"""Deliveries and contacts: plain Python, no framework.

A *delivery* is one message (one e-mail or one SMS) that an event asked for. It is recorded first and sent later by
the delivery loop, so the consumer's transaction never waits on SMTP or the SMS gateway, and a redelivered event
finds its delivery already recorded (unique per cause event, template and channel).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
STATUSES = (PENDING, SENT, FAILED, SKIPPED)
LANGUAGES = ("hu", "en")
DEFAULT_LANGUAGE = "hu"

#: Payload keys that are secrets: kept (sealed, as they came: see portal_common.sealing) only until the message is
#: sent (or has failed), then blanked. They are opened only in memory, just before rendering.
SEALED_FIELDS = {"activation_url_sealed": "activation_url", "initial_password_sealed": "initial_password",
                 "one_time_password_sealed": "one_time_password", "confirm_url_sealed": "confirm_url",
                 "code_sealed": "code"}
SECRET_FIELDS = frozenset({*SEALED_FIELDS, *SEALED_FIELDS.values()})
BLANKED = "[removed]"


class DeliveryError(Exception):
    """Sending failed. ``reason`` is safe to log and to publish: it never holds a secret or a full address."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TransientDeliveryError(DeliveryError):
    """Worth retrying: connection refused, timeout, SMTP 4xx, HTTP 5xx or 429."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: recipient refused (SMTP 5xx), gateway said 4xx, invalid number."""


@dataclass
class Delivery:
    cause_event_id: str
    cause_event: str
    template: str
    channel: str
    to: str | None
    language: str
    payload: dict
    created_at: datetime
    next_attempt_at: datetime
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    account_id: str | None = None
    customer_id: str | None = None
    correlation_id: str | None = None
    #: A second uniqueness key beside the cause event, e.g. ``document:<id>`` — never two e-mails for one document.
    subject_key: str | None = None

    def mark_sent(self, now: datetime) -> None:
        self.status, self.sent_at, self.last_error = SENT, now, None
        self.attempts += 1
        self.forget_secrets()

    def mark_failed(self, reason: str, now: datetime, *, attempted: bool = True) -> None:
        self.status, self.last_error = FAILED, reason[:2000]
        if attempted:
            self.attempts += 1
        self.next_attempt_at = now
        self.forget_secrets()

    def schedule_retry(self, reason: str, now: datetime, horizon: timedelta, base_delay: float,
                       max_delay: float) -> bool:
        """Count a transient failure and schedule the next try: growing delays (capped at ``max_delay``), the last
        try exactly at the horizon (``created_at + horizon``). Returns False once a failure happens at or past the
        horizon: then the delivery has failed for good."""
        self.attempts += 1
        give_up_at = self.created_at + horizon
        if now >= give_up_at:
            self.status = FAILED
            self.last_error = f"gave up after {self.attempts} attempts over {_span(now - self.created_at)}: {reason}"[:2000]
            self.forget_secrets()
            return False
        self.last_error = reason[:2000]
        self.next_attempt_at = min(give_up_at, now + timedelta(seconds=backoff(self.attempts, base_delay, max_delay)))
        return True

    def forget_secrets(self) -> None:
        self.payload = {k: (BLANKED if k in SECRET_FIELDS and v is not None else v) for k, v in self.payload.items()}

    @property
    def masked_to(self) -> str:
        return mask_address(self.channel, self.to)


@dataclass
class Contact:
    """Notify's own projection of where a customer wants document e-mails (fed by identity's events)."""

    customer_id: str
    declaration_email: str | None = None
    account_email: str | None = None
    mobile: str | None = None
    language: str = DEFAULT_LANGUAGE
    declaration_changed_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime | None = None


def backoff(attempts: int, base_delay: float, max_delay: float) -> float:
    """Exponential back-off after the ``attempts``-th failed try: base, 2*base, 4*base … capped."""
    return min(max_delay, base_delay * (2 ** max(0, attempts - 1)))


def _span(delta: timedelta) -> str:
    """``1 day, 0:00:05`` style would be noise in a reason: whole hours, or minutes below an hour."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min"


def language_of(value: str | None) -> str:
    value = (value or "").strip().lower()[:2]
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


# ------------------------------------------------------------------------------------------------ addresses
_PHONE_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def e164(raw: str | None) -> str | None:
    """The number when it is in E.164 form (``+36301234567``), else None. Numbers are normalised once, where they
    enter the portal (identity, which owns the customer's mobile number); the events carry E.164 (their contract's
    pattern), so notify only checks the form."""
    value = (raw or "").strip()
    return value if _PHONE_RE.match(value) else None


def mask_email(address: str | None) -> str:
    """``anna.minta@example.org`` -> ``a***@example.org``."""
    if not address:
        return "-"
    local, _, domain = address.strip().rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_phone(number: str | None) -> str:
    """``+36301234567`` -> ``+3630***4567``."""
    if not number:
        return "-"
    value = re.sub(r"[\s\-().\/]", "", number)
    if len(value) < 9:
        return "***" + value[-2:]
    return f"{value[:5]}***{value[-4:]}"


def mask_address(channel: str, to: str | None) -> str:
    return mask_email(to) if channel == EMAIL else mask_phone(to)
