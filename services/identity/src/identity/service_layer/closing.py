"""Closing the registration."""
from __future__ import annotations

from portal_common import logs

from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..domain import commands, errors, events, model
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork
from .common import _end_sessions
from .declarations import _withdraw
from .login import _check_current_password

log = logs.get_logger(__name__)


def close_account(cmd: commands.CloseAccount, *, uow: AbstractUnitOfWork, hasher: PasswordHasher,
                  clock: Clock, settings: Settings) -> None:
    """Terminates the registration and, in the same transaction, withdraws the active declaration: without it the
    new-document e-mails would keep going out to someone who left the portal. Documents go by post again."""
    now = clock.now()
    with uow:
        account = uow.repo.get_account(cmd.account_id, for_update=True)  # a double submit closes once
        if account is None or account.status != model.ACTIVE:
            raise errors.NotFound(cmd.account_id)
        if not _check_current_password(uow, account, cmd.password, hasher=hasher, now=now, settings=settings):
            uow.commit()  # the wrong password counts towards the lockout
            raise errors.InvalidFields({"password": ["wrong_password"]})
        account.close(now)
        _end_sessions(uow, account, events.ACCOUNT_CLOSED, now)
        uow.publish(events.AccountClosed(
            account_id=account.account_id, customer_id=account.customer_id, email=account.email,
            language=account.language, closed_at=now))
        declaration = uow.repo.latest_declaration(account.customer_id, for_update=True)
        if declaration is not None and declaration.active:
            _withdraw(uow, declaration, now, reason="account_closed")
        uow.commit()
    log.info("account_closed", account_id=account.account_id)
