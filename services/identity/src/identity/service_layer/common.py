"""Helpers the use cases share: token hashing, ISO times, the per-client allowances (throttles)."""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta, timezone

from ..adapters.clock import Clock
from ..domain import errors, events, model
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork


def sha256(raw: str) -> str:
    """Tokens, session ids: only their SHA-256 is stored (they are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


#: kinds of ``client_attempts`` rows
IDENTIFICATION, RECOVERY, LOGIN_FAILURE = "identification", "recovery", "login_failure"


def client_key(client_ip: str) -> str:
    return (client_ip or "unknown")[:100]


def _take_allowance(uow: AbstractUnitOfWork, kind: str, client_ip: str, limit: int, window: timedelta,
                    now: datetime) -> int:
    """Count the client's attempts in the window and record this one, as one step (the client's lock is held until
    the commit: 40 parallel requests never pass more than ``limit``); over the limit -> :class:`Throttled` with the
    seconds until the oldest attempt leaves the window. Returns the attempt's id, for :func:`_give_back`."""
    key = client_key(client_ip)
    with uow:
        uow.repo.lock_client(kind, key)
        uow.repo.relax_durability()  # bookkeeping of a rate limit: not worth waiting for the disk
        _raise_if_over(uow.repo.client_attempts_since(kind, key, now - window), limit, window, now)
        attempt_id = uow.repo.add_client_attempt(kind, key, now)
        uow.commit()
    return attempt_id


def _raise_if_over(attempts: list[datetime], limit: int, window: timedelta, now: datetime) -> None:
    """``attempts``: the client's attempts inside the window, oldest first (read under ``repo.lock_client``)."""
    if len(attempts) >= limit:
        # One more attempt is allowed once enough of them have left the window.
        frees_at = attempts[-limit] + window
        raise errors.Throttled(max(1, math.ceil((frees_at - now).total_seconds())))


def _give_back(uow: AbstractUnitOfWork, attempt_id: int) -> None:
    """An attempt that turned out not to count (a successful identification or login); the caller commits."""
    uow.repo.remove_client_attempt(attempt_id)


def _give_back_now(uow: AbstractUnitOfWork, attempt_id: int) -> None:
    with uow:
        _give_back(uow, attempt_id)
        uow.commit()


def _spend_recovery_allowance(client_ip: str, *, uow: AbstractUnitOfWork, clock: Clock, settings: Settings) -> None:
    """Recovery and resend requests: every request counts (matched or not), one allowance for both, checked before
    anything is looked up, so a 429 says nothing about any address."""
    _take_allowance(uow, RECOVERY, client_ip, settings.recovery_max_per_client, settings.client_window, clock.now())


def _sessions_ended(uow: AbstractUnitOfWork, account: model.Account, reason: str, now: datetime) -> None:
    """``account.sessions_ended`` in the caller's transaction: the gateway forgets the session checks it keeps for
    this account (every one of them, also the session a password change kept: its answer changed)."""
    uow.publish(events.AccountSessionsEnded(account_id=account.account_id, customer_id=account.customer_id,
                                            reason=reason, ended_at=now))


def _end_sessions(uow: AbstractUnitOfWork, account: model.Account, reason: str, now: datetime,
                  keep: str | None = None, always: bool = False) -> int:
    """End the account's sessions (all but ``keep``) and say so (:func:`_sessions_ended`) when any ended, or
    ``always``. Returns how many ended."""
    ended = uow.repo.delete_sessions(account.account_id, keep=keep)
    if ended or always:
        _sessions_ended(uow, account, reason, now)
    return ended
