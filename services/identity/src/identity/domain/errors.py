"""Domain outcomes other than success. The HTTP API maps each to one status and one error code."""
from __future__ import annotations

from datetime import datetime


class IdentityError(Exception):
    pass


class IdentificationFailed(IdentityError):
    """Policy number and identification data do not match a policyholder (never says which item)."""


class NotEligible(IdentityError):
    """Identified, but no active kgfb/casco/home/business policy paid by direct debit or bank transfer."""


class Throttled(IdentityError):
    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class AlreadyDeclared(IdentityError):
    pass


class AlreadyRegistered(IdentityError):
    pass


class ActivationPending(IdentityError):
    """The customer registered already and the activation link is still valid: check the mailbox or ask for a new
    link. (Once no valid link is left, a new registration replaces the pending account.)"""


class NoDeclaration(IdentityError):
    """Identified, but the customer has no active declaration on electronic communication to withdraw."""


class InvalidFields(IdentityError):
    """Field errors: ``{field: [code, ...]}``."""

    def __init__(self, codes: dict[str, list[str]]):
        super().__init__(", ".join(f"{k}: {v}" for k, v in codes.items()))
        self.codes = codes


class InvalidCredentials(IdentityError):
    pass


class Locked(IdentityError):
    def __init__(self, locked_until: datetime):
        super().__init__(f"locked until {locked_until.isoformat()}")
        self.locked_until = locked_until


class TokenInvalid(IdentityError):
    def __init__(self, reason: str):  # expired | used | unknown
        super().__init__(reason)
        self.reason = reason


class NotFound(IdentityError):
    pass


class SessionExpired(IdentityError):
    pass


class DirectoryUnavailable(IdentityError):
    """The policies service could not be asked (down, timeout, 5xx)."""
