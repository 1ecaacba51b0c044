"""Sessions: touch (idle timeout), logout, change the password."""
from __future__ import annotations

from portal_common import logs

from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..domain import commands, errors, events, model, rules
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork
from .common import _end_sessions, _sessions_ended, sha256
from .login import _check_current_password

log = logs.get_logger(__name__)


def touch_session(cmd: commands.TouchSession, *, uow: AbstractUnitOfWork, clock: Clock,
                  settings: Settings) -> model.SessionCheck:
    """A live session slides its idle timer; an idle or orphaned one is deleted. Returns the session with its
    account and whether the customer has an active declaration (what a page needs, in one answer).

    Page views ask this (each gateway process at least every 10 s of a session's use: gateway/cache.py), so it
    must be cheap: one read (the session joined with its account and the declaration's existence, all by key) and a
    write of the new ``last_seen_at`` only when the stored one is ``session_touch`` (60 s) old or older. The stored
    time is then at most 60 s (+ the gateway's 10 s) behind the last real use, so a session ends between 13 min 50 s
    and 15 minutes of idleness — never later than the rule's 15. Logout, a password change, recovery and closing
    delete the row, so the next check after them finds no session; they publish ``account.sessions_ended``, on which
    every gateway process forgets its copy of the check. An idle session deleted here publishes nothing: it
    had ended already, and whoever remembers its check keeps the same idle rule.
    """
    now = clock.now()
    with uow:
        found = uow.repo.check_session(sha256(cmd.session_id))
        if found is None:
            raise errors.SessionExpired()
        if not found.usable(now, settings.session_idle):
            uow.repo.delete_session(found.session_hash)
            uow.commit()
            raise errors.SessionExpired()
        if now - found.last_seen_at >= settings.session_touch:
            uow.repo.slide_session(found.session_hash, now)
            uow.commit()
        return found


def logout(cmd: commands.Logout, *, uow: AbstractUnitOfWork, clock: Clock) -> None:
    """Ends the session (``account.sessions_ended``, reason ``logout``); a session already gone ends nothing and
    publishes nothing (of two simultaneous logouts, the one whose DELETE found the row publishes)."""
    with uow:
        account_id = uow.repo.delete_session(sha256(cmd.session_id))
        account = uow.repo.get_account(account_id) if account_id is not None else None
        if account is not None:
            _sessions_ended(uow, account, events.LOGOUT, clock.now())
        uow.commit()


def change_password(cmd: commands.ChangePassword, *, uow: AbstractUnitOfWork, hasher: PasswordHasher, clock: Clock,
                    settings: Settings) -> None:
    """Checks the current password and the policy; ends every other session of the account
    (``account.sessions_ended``, reason ``password_changed``, always: the kept session's answer changes too).

    The session kept is ``keep_session_id`` when given, else the most recently used one (the one that asked).
    """
    now = clock.now()
    with uow:
        account = uow.repo.get_account(cmd.account_id, for_update=True)  # the count of wrong passwords
        if account is None or account.status != model.ACTIVE:
            raise errors.NotFound(cmd.account_id)
        codes: dict[str, list[str]] = {}
        if not _check_current_password(uow, account, cmd.current_password, hasher=hasher, now=now,
                                       settings=settings):
            codes["current_password"] = ["wrong_password"]
        policy = rules.check_password(cmd.new_password, username=account.username,
                                      min_length=settings.password_min_length, current_password=cmd.current_password)
        if policy:
            codes["new_password"] = policy
        if codes:
            uow.commit()  # the wrong password's count (or the right one's reset) stays
            raise errors.InvalidFields(codes)
        account.set_password(hasher.hash(cmd.new_password), now)
        if cmd.keep_session_id:
            keep = sha256(cmd.keep_session_id)
        else:
            sessions = sorted(uow.repo.sessions_of(account.account_id), key=lambda s: s.last_seen_at)
            keep = sessions[-1].session_hash if sessions else None
        # Said also when no other session ended: the kept one's check answers differently now (must_change_password).
        _end_sessions(uow, account, events.PASSWORD_CHANGED, now, keep=keep, always=True)
        uow.publish(events.AccountPasswordChanged(
            account_id=account.account_id, username=account.username, email=account.email,
            language=account.language, changed_at=now))
        uow.commit()
    log.info("password_changed", account_id=account.account_id)
