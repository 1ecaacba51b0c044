"""What identity does with the events routed to it (notification.failed, policy.upserted)."""
from __future__ import annotations

from portal_common import logs

from ..domain import commands, model
from .unit_of_work import AbstractUnitOfWork

log = logs.get_logger(__name__)


#: A failed delivery is about the initial password when notify names this cause event or this template
#: (contracts/events/notification.failed.v1.json).
#: account.initial_password_issued since the password left account.activated (v2); the old name for failures of
#: messages recorded before.
INITIAL_PASSWORD_EVENTS = ("account.initial_password_issued", "account.activated")
INITIAL_PASSWORD_TEMPLATE = "initial_password"


def policy_changed(cmd=None) -> None:
    """``policy.upserted``: deliberately nothing. Identity keeps no copy of policyholder data; it asks the policies
    service (``POST /internal/policyholders/match``) at identification time, so it always sees the latest state. The
    route exists because the topology sends ``policy.upserted`` to identity's queue."""


def note_notification_failed(cmd: commands.NoteNotificationFailed, *, uow: AbstractUnitOfWork) -> bool:
    """Only an undeliverable initial-password SMS matters here: remember it on the account, so the portal can tell
    the user to call the telephone service. Other failures (e-mails, reset notices) change nothing."""
    template = cmd.template or ""
    about_initial_password = (cmd.cause_event in INITIAL_PASSWORD_EVENTS or template == INITIAL_PASSWORD_TEMPLATE
                              or template.startswith(INITIAL_PASSWORD_EVENTS))
    if cmd.channel != "sms" or not cmd.account_id or not about_initial_password:
        return False
    found = mark_sms_failed(commands.MarkSmsFailed(cmd.account_id), uow=uow)
    if not found:
        log.info("sms_failure_for_unknown_account", account_id=cmd.account_id)
    return found


def mark_sms_failed(cmd: commands.MarkSmsFailed, *, uow: AbstractUnitOfWork) -> bool:
    """The initial-password SMS could not be delivered: the portal tells the user to call the telephone service."""
    with uow:
        account = uow.repo.get_account(cmd.account_id)
        if account is None:
            return False
        account.sms_status = model.SMS_FAILED
        uow.commit()
    log.warning("initial_password_sms_failed", account_id=cmd.account_id)
    return True
