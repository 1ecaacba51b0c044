"""Commands: what the service is asked to do (imperative names)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Identification:
    """A policy number plus the policyholder's natural identification data."""

    policy_number: str
    name: str
    birth_name: str
    birth_date: date
    birth_place: str
    mother_name: str


@dataclass(frozen=True)
class Declare:
    identification: Identification
    email: str
    language: str
    client_ip: str


@dataclass(frozen=True)
class WithdrawDeclaration:
    customer_id: str


@dataclass(frozen=True)
class WithdrawIdentifiedDeclaration:
    """Withdrawal by someone who only declared (no portal account): identified like a declaration."""

    identification: Identification
    client_ip: str


@dataclass(frozen=True)
class Register:
    identification: Identification
    email: str
    mobile: str  # already normalised to +36…
    username: str
    language: str
    client_ip: str
    #: the user ticked "I accept the declaration on electronic communication"; required when they have none
    accept_declaration: bool = False


@dataclass(frozen=True)
class ResendActivation:
    email: str
    client_ip: str = ""


@dataclass(frozen=True)
class Activate:
    token: str


@dataclass(frozen=True)
class Login:
    username: str
    password: str
    client_ip: str = ""


@dataclass(frozen=True)
class TouchSession:
    session_id: str


@dataclass(frozen=True)
class Logout:
    session_id: str


@dataclass(frozen=True)
class ChangePassword:
    account_id: str
    current_password: str
    new_password: str
    keep_session_id: str | None = None


@dataclass(frozen=True)
class RequestRecovery:
    email: str
    mobile: str
    client_ip: str = ""


@dataclass(frozen=True)
class CloseAccount:
    account_id: str
    password: str


@dataclass(frozen=True)
class MarkSmsFailed:
    account_id: str


@dataclass(frozen=True)
class NoteNotificationFailed:
    """From ``notification.failed``: notify gave up on a message."""

    channel: str
    template: str | None = None
    cause_event: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class RequestCallback:
    """"Kérdésem van": phone me back. ``account_id`` when a logged-in customer asks (the gateway says so)."""

    idempotency_key: str
    name: str
    phone: str
    email: str
    topic: str
    message: str
    preferred_time: str
    language: str
    client_ip: str
    policy_number: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class RequestEmailChange:
    account_id: str
    password: str
    new_email: str


@dataclass(frozen=True)
class ConfirmEmailChange:
    token: str


@dataclass(frozen=True)
class RequestMobileChange:
    account_id: str
    password: str
    new_mobile: str  # already normalised to +36…


@dataclass(frozen=True)
class ConfirmMobileChange:
    account_id: str
    code: str


@dataclass(frozen=True)
class SetLanguage:
    account_id: str
    language: str
