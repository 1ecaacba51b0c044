"""Forgotten credentials: the one-time password by e-mail, the notice by SMS."""
from __future__ import annotations

from portal_common import logs
from portal_common.sealing import default_sealer

from ..adapters.clock import Clock
from ..domain import commands, events, model, rules
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork
from .common import _end_sessions, _spend_recovery_allowance, sha256

log = logs.get_logger(__name__)


def request_recovery(cmd: commands.RequestRecovery, *, uow: AbstractUnitOfWork, clock: Clock,
                     settings: Settings) -> None:
    """Forgotten username or password: e-mail + mobile both matching an active account get a one-time password.

    The answer never depends on a match, and neither does the work (the one-time password is random, so only its
    SHA-256 is stored, like a token's: no slow hashing to time). Limited per client, together with resend
    (:func:`_spend_recovery_allowance`).
    """
    _spend_recovery_allowance(cmd.client_ip, uow=uow, clock=clock, settings=settings)
    now = clock.now()
    email, mobile = rules.normalise_email(cmd.email), rules.normalise_mobile(cmd.mobile)
    with uow:
        matches = [a for a in uow.repo.accounts_by_email(email, model.ACTIVE) if mobile and a.mobile == mobile]
        for account in matches:  # the rare second account with the same contact details gets its own password
            otp = rules.generate_password()
            expires_at = now + settings.otp_ttl
            account.issue_otp(sha256(otp), expires_at)
            ended = _end_sessions(uow, account, events.CREDENTIALS_RESET, now)
            uow.publish(events.AccountCredentialsReset(
                account_id=account.account_id, username=account.username, email=account.email,
                mobile=account.mobile, language=account.language,
                one_time_password_sealed=default_sealer().seal(otp, account.account_id), expires_at=expires_at))
            log.info("credentials_reset", account_id=account.account_id, sessions_ended=ended)
        uow.commit()
