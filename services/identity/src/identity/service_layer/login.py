"""Login and the lockout: the password check every use case that asks for the password shares."""
from __future__ import annotations

import secrets
from datetime import datetime

from portal_common import logs

from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..domain import commands, errors, events, model, rules
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork
from .common import LOGIN_FAILURE, _end_sessions, _give_back, _take_allowance, iso, sha256

log = logs.get_logger(__name__)


def login(cmd: commands.Login, *, uow: AbstractUnitOfWork, hasher: PasswordHasher, clock: Clock,
          settings: Settings) -> tuple[str, model.Account]:
    """Returns ``(session_id, account)``. The opaque session id is handed out once; only its hash is stored.

    Every path looks the same from outside (OWASP ASVS 6.3.8): a username without an active account (unknown,
    pending, closed) answers 401, 401, then 423 with a ``locked_until`` like a real account, and every path costs
    one argon2 verification (the password's, or a dummy hash's); a pending one-time password is compared by its
    SHA-256 (it is random, like a token), which costs nothing measurable.
    """
    now = clock.now()
    # Password spraying: many names, one password, one client. Checked first, the same for every username; the
    # attempt counts as a failure until it succeeds.
    attempt = _take_allowance(uow, LOGIN_FAILURE, cmd.client_ip, settings.login_max_failures_per_client,
                              settings.client_window, now)
    key = rules.username_key(cmd.username)
    with uow:
        # The row lock makes the count atomic and the one-time password single use: a concurrent login of the same
        # name waits here, then sees what this one changed (the same lock as a double-clicked activation link).
        account = uow.repo.account_by_username(key, for_update=True)
        if account is not None and account.status != model.ACTIVE:
            account = None  # pending, closed, expired: indistinguishable from unknown
        password_ok = hasher.verify(account.password_hash if account else None, cmd.password)
        otp_ok = account is not None and not password_ok and account.otp_matches(sha256(cmd.password), now)
        if account is None:
            _refuse(uow, uow.repo.unknown_login(rules.username_hash(settings.username_hash_key, key), now), now,
                    settings)
        if account.is_locked(now) and not otp_ok:
            # Even the right password waits for the lock to end; the one-time password from the forgotten-
            # credentials journey is the other way back in.
            raise errors.Locked(account.locked_until)
        if not (password_ok or otp_ok):
            _refuse(uow, account, now, settings)
        if otp_ok:
            account.use_otp(now)
            log.info("one_time_password_used", account_id=account.account_id)
        else:
            account.login_succeeded()
            if hasher.needs_rehash(account.password_hash):
                account.password_hash = hasher.hash(cmd.password)
        _give_back(uow, attempt)
        session_id = secrets.token_urlsafe(32)
        uow.repo.add_session(model.LoginSession(session_hash=sha256(session_id), account_id=account.account_id,
                                                created_at=now, last_seen_at=now))
        uow.commit()
    log.info("login_succeeded", account_id=account.account_id)
    return session_id, account


def _refuse(uow: AbstractUnitOfWork, subject: model.LoginLockout, now: datetime, settings: Settings):
    """A wrong password for ``subject`` (an account, or a username without one): counted by the lockout rule,
    committed, then :class:`Locked` or :class:`InvalidCredentials`. The attempt that locks an account tells the
    owner (``account.locked``, once per lock); a name without an account has nobody to tell and is never logged."""
    result = subject.record_failed_login(now, settings.lockout_threshold, settings.lockout)
    if isinstance(subject, model.Account):
        if result.locked_now:
            _tell_the_owner(uow, subject, result)
        else:
            log.info("login_failed", account_id=subject.account_id, failed_attempts=result.failed_attempts)
    else:
        log.info("login_failed_no_account", failed_attempts=result.failed_attempts)
    if result.counted:  # while locked nothing changes: no write, for an account and a name without one alike
        uow.commit()
    if result.locked_until is not None:
        raise errors.Locked(result.locked_until)
    raise errors.InvalidCredentials()


def _tell_the_owner(uow: AbstractUnitOfWork, account: model.Account, result: model.FailedLogin, **log_fields):
    """The attempt that locked: ``account.locked`` (notify e-mails the owner, once per lock)."""
    uow.publish(events.AccountLocked(
        account_id=account.account_id, username=account.username, email=account.email,
        language=account.language, locked_until=result.locked_until, failed_attempts=result.failed_attempts))
    log.warning("account_locked", account_id=account.account_id, locked_until=iso(result.locked_until), **log_fields)


def _check_current_password(uow: AbstractUnitOfWork, account: model.Account, password: str, *,
                            hasher: PasswordHasher, now: datetime, settings: Settings) -> bool:
    """A password confirmation on a logged-in page (change password, close account). A wrong one counts towards the
    lockout like a wrong login (a stolen session must not become a way to guess the password): the attempt that
    locks ends every session of the account (``account.sessions_ended``, reason ``account_locked``), commits and
    raises :class:`Locked`. A locked account is refused
    even with the right password, as at login."""
    if account.is_locked(now):
        raise errors.Locked(account.locked_until)
    if hasher.verify(account.password_hash, password) or account.used_otp_matches(sha256(password), now):
        account.login_succeeded()  # a right password ends the series, as at login
        return True
    result = account.record_failed_login(now, settings.lockout_threshold, settings.lockout)
    if result.locked_now:
        ended = _end_sessions(uow, account, events.ACCOUNT_LOCKED, now)
        _tell_the_owner(uow, account, result, sessions_ended=ended)
        uow.commit()
        raise errors.Locked(result.locked_until)
    log.info("password_confirmation_failed", account_id=account.account_id, failed_attempts=result.failed_attempts)
    return False
