"""Events this service publishes (through its outbox). One class per contract in contracts/events/.

``version`` is the contract version identity publishes (header ``version``; contracts/events/<name>.v<N>.json): the
v2 events carry their secret sealed for notify instead of in clear (issue 8), and ``secret_fields`` names the sealed
field (the outbox and the logs never show it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

from portal_common.events import IntegrationEvent


@dataclass(frozen=True)
class AccountActivationRequested(IntegrationEvent):
    """``account.activation_requested`` v2: the activation link, sealed for notify."""

    name: ClassVar[str] = "account.activation_requested"
    version: ClassVar[int] = 2
    secret_fields: ClassVar[tuple[str, ...]] = ("activation_url_sealed",)
    account_id: str
    customer_id: str
    username: str
    email: str
    language: str
    activation_url_sealed: str
    expires_at: datetime


@dataclass(frozen=True)
class AccountActivated(IntegrationEvent):
    """``account.activated`` v2: the account is active (no password in it: see ``account.initial_password_issued``)."""

    name: ClassVar[str] = "account.activated"
    version: ClassVar[int] = 2
    account_id: str
    customer_id: str
    username: str
    mobile: str
    language: str
    email: str
    activated_at: datetime


@dataclass(frozen=True)
class AccountInitialPasswordIssued(IntegrationEvent):
    """``account.initial_password_issued`` v1: the initial password, sealed for notify alone (it goes by SMS)."""

    name: ClassVar[str] = "account.initial_password_issued"
    secret_fields: ClassVar[tuple[str, ...]] = ("initial_password_sealed",)
    account_id: str
    customer_id: str
    username: str
    mobile: str
    language: str
    initial_password_sealed: str


@dataclass(frozen=True)
class AccountPasswordChanged(IntegrationEvent):
    """``account.password_changed`` v1."""

    name: ClassVar[str] = "account.password_changed"
    account_id: str
    username: str
    email: str
    language: str
    changed_at: datetime


#: Why ``account.sessions_ended`` was published (its ``reason``). Consumers must tolerate values added later.
LOGOUT, PASSWORD_CHANGED, CREDENTIALS_RESET, ACCOUNT_CLOSED, ACCOUNT_LOCKED = (
    "logout", "password_changed", "credentials_reset", "account_closed", "account_locked")
SESSIONS_ENDED_REASONS = (LOGOUT, PASSWORD_CHANGED, CREDENTIALS_RESET, ACCOUNT_CLOSED, ACCOUNT_LOCKED)
#: Events only live subscribers take (the gateway's per-process queues): the relay lets them go unrouted
#: (portal_common.outbox.OutboxRelay ``unrouted_ok``). notify's ``account.*`` binding routes this one today anyway.
LIVE_SUBSCRIBERS_ONLY = ("account.sessions_ended",)


@dataclass(frozen=True)
class AccountSessionsEnded(IntegrationEvent):
    """``account.sessions_ended`` v1: identity ended sessions of the account on purpose (never an idle one), so
    whoever remembers a session check of this account forgets it. Never a session id, its hash or a secret."""

    name: ClassVar[str] = "account.sessions_ended"
    account_id: str
    customer_id: str
    reason: str
    ended_at: datetime


@dataclass(frozen=True)
class AccountLocked(IntegrationEvent):
    """``account.locked`` v1: the attempt that locked (notify e-mails the owner, once per lock)."""

    name: ClassVar[str] = "account.locked"
    account_id: str
    username: str
    email: str
    language: str
    locked_until: datetime
    failed_attempts: int


@dataclass(frozen=True)
class AccountCredentialsReset(IntegrationEvent):
    """``account.credentials_reset`` v2: a one-time password, sealed for notify."""

    name: ClassVar[str] = "account.credentials_reset"
    version: ClassVar[int] = 2
    secret_fields: ClassVar[tuple[str, ...]] = ("one_time_password_sealed",)
    account_id: str
    username: str
    email: str
    mobile: str
    language: str
    one_time_password_sealed: str
    expires_at: datetime


@dataclass(frozen=True)
class AccountEmailChangeRequested(IntegrationEvent):
    """``account.email_change_requested`` v2: the confirmation link to the new address, sealed for notify."""

    name: ClassVar[str] = "account.email_change_requested"
    version: ClassVar[int] = 2
    secret_fields: ClassVar[tuple[str, ...]] = ("confirm_url_sealed",)
    account_id: str
    customer_id: str
    username: str
    email: str
    current_email: str
    language: str
    confirm_url_sealed: str
    expires_at: datetime


@dataclass(frozen=True)
class AccountMobileChangeRequested(IntegrationEvent):
    """``account.mobile_change_requested`` v2: the SMS code to the new number, sealed for notify."""

    name: ClassVar[str] = "account.mobile_change_requested"
    version: ClassVar[int] = 2
    secret_fields: ClassVar[tuple[str, ...]] = ("code_sealed",)
    account_id: str
    customer_id: str
    mobile: str
    language: str
    code_sealed: str
    expires_at: datetime


@dataclass(frozen=True)
class AccountClosed(IntegrationEvent):
    """``account.closed`` v1."""

    name: ClassVar[str] = "account.closed"
    account_id: str
    customer_id: str
    email: str
    language: str
    closed_at: datetime


@dataclass(frozen=True)
class CustomerCallbackRequested(IntegrationEvent):
    """``customer.callback_requested`` v1: a callback request for the call centre (due by ``due_on``)."""

    name: ClassVar[str] = "customer.callback_requested"
    wire_names: ClassVar[dict[str, str]] = {"caller_name": "name"}  # ``name`` is the event's name here
    request_id: str
    caller_name: str
    phone: str
    email: str
    policy_number: str | None
    topic: str
    message: str
    preferred_time: str
    language: str
    customer_id: str | None
    account_id: str | None
    requested_at: datetime
    due_on: date
    working_days: int


@dataclass(frozen=True)
class CustomerContactChanged(IntegrationEvent):
    """``customer.contact_changed`` v1: the account's contact data after a change (the previous address or number
    only when that one changed)."""

    name: ClassVar[str] = "customer.contact_changed"
    customer_id: str
    account_id: str
    username: str
    email: str
    mobile: str
    language: str
    changed: list[str]
    declaration_email: str | None
    changed_at: datetime
    previous_email: str | None = None
    previous_mobile: str | None = None

    def fields(self) -> dict:
        return {k: v for k, v in super().fields().items()
                if v is not None or k not in ("previous_email", "previous_mobile")}


@dataclass(frozen=True)
class CustomerDeclared(IntegrationEvent):
    """``customer.declared`` v1: a declaration on electronic communication (new-document e-mails)."""

    name: ClassVar[str] = "customer.declared"
    declaration_id: str
    customer_id: str
    policy_number: str
    email: str
    language: str
    text_version: str
    channel: str
    declared_at: datetime


@dataclass(frozen=True)
class CustomerDeclarationWithdrawn(IntegrationEvent):
    """``customer.declaration_withdrawn`` v1: back to paper post."""

    name: ClassVar[str] = "customer.declaration_withdrawn"
    declaration_id: str
    customer_id: str
    email: str
    language: str
    withdrawn_at: datetime
