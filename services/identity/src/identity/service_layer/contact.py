"""Use cases of the customer's contact with the insurer: callback requests ("Kérdésem van") and changing the
e-mail address, the mobile number and the language of an account.

Why identity owns callback requests: identity already is the service that knows who the customer is (the session
tells which account asks, so the request is linked to the customer), holds their contact data (the form is
pre-filled from it) and keeps the per-client allowances in its database (``client_attempts``). A new service for one
table and one event would add a database, a worker and a deployment for no new rule. The contact centre itself
(CRM) is outside the portal: it consumes ``customer.callback_requested`` from its own queue (``crm.events``).

Plain functions ``(command, *, deps)`` like :mod:`identity.service_layer.handlers`. The link token and the SMS code
are never logged and are stored only as SHA-256.
"""
from __future__ import annotations

import secrets
import uuid

from portal_common import logs
from portal_common.sealing import default_sealer

from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..domain import callbacks, commands, errors, events, model, rules, workdays
from ..settings import Settings
from .common import _raise_if_over, client_key, sha256
from .login import _check_current_password
from .unit_of_work import AbstractUnitOfWork, Conflict

log = logs.get_logger(__name__)

#: kind of ``client_attempts`` rows: every new callback request counts (a resubmitted form does not)
CALLBACK = "callback"


# -------------------------------------------------------------------------------------------- callback requests
def request_callback(cmd: commands.RequestCallback, *, uow: AbstractUnitOfWork, clock: Clock,
                     settings: Settings) -> tuple[callbacks.CallbackRequest, bool]:
    """Store the request and publish ``customer.callback_requested`` (the CRM calls back; notify confirms by
    e-mail). Returns ``(request, created)``: the same idempotency key again returns the first request, unchanged and
    without a new event, and does not count against the client's allowance."""
    now, key = clock.now(), client_key(cmd.client_ip)
    with uow:
        existing = uow.repo.callback_request_by_key(cmd.idempotency_key)
        if existing is not None:
            return existing, False
        uow.repo.lock_client(CALLBACK, key)  # count and record as one step (parallel requests pass the limit once)
        attempts = uow.repo.client_attempts_since(CALLBACK, key, now - settings.callback_window)
        _raise_if_over(attempts, settings.callback_max_per_client, settings.callback_window, now)
        account = uow.repo.get_account(cmd.account_id) if cmd.account_id else None
        if account is not None and account.status != model.ACTIVE:
            account = None
        request = callbacks.CallbackRequest(
            request_id=str(uuid.uuid4()), idempotency_key=cmd.idempotency_key, client_key=key, name=cmd.name,
            phone=rules.normalise_phone(cmd.phone) or cmd.phone, email=rules.normalise_email(cmd.email),
            topic=cmd.topic, message=cmd.message,
            preferred_time=cmd.preferred_time, language=cmd.language, created_at=now,
            due_on=workdays.callback_due(now, settings.callback_working_days, settings.extra_non_working_days),
            policy_number=cmd.policy_number or None,
            customer_id=account.customer_id if account else None, account_id=account.account_id if account else None)
        uow.repo.add_callback_request(request)
        uow.repo.add_client_attempt(CALLBACK, key, now)
        uow.publish(callback_requested(request, settings))
        try:
            uow.commit()
        except Conflict:  # the same form submitted twice at the same moment: the other request won
            with uow:
                winner = uow.repo.callback_request_by_key(cmd.idempotency_key)
            if winner is None:
                raise
            return winner, False
    log.info("callback_requested", request_id=request.request_id, topic=request.topic,
             due_on=request.due_on.isoformat())
    return request, True


def callback_requested(request: callbacks.CallbackRequest, settings: Settings) -> events.CustomerCallbackRequested:
    return events.CustomerCallbackRequested(
        request_id=request.request_id, caller_name=request.name, phone=request.phone, email=request.email,
        policy_number=request.policy_number, topic=request.topic, message=request.message,
        preferred_time=request.preferred_time, language=request.language,
        customer_id=request.customer_id, account_id=request.account_id,
        requested_at=request.created_at, due_on=request.due_on, working_days=settings.callback_working_days)


# ---------------------------------------------------------------------------------------------- contact changes
def _active_account(uow: AbstractUnitOfWork, account_id: str, for_update: bool = False) -> model.Account:
    account = uow.repo.get_account(account_id, for_update=for_update)
    if account is None or account.status != model.ACTIVE:
        raise errors.NotFound(account_id)
    return account


def _check_password(uow: AbstractUnitOfWork, account: model.Account, password: str, *, hasher: PasswordHasher,
                    now, settings: Settings) -> None:
    """The password first; a wrong one counts towards the lockout (``login._check_current_password``)."""
    if not _check_current_password(uow, account, password, hasher=hasher, now=now, settings=settings):
        uow.commit()
        raise errors.InvalidFields({"password": ["wrong_password"]})


def _supersede(uow: AbstractUnitOfWork, account_id: str, kind: str, now) -> None:
    for change in uow.repo.pending_contact_changes(account_id, kind, now, for_update=True):
        change.revoked_at = now


def request_email_change(cmd: commands.RequestEmailChange, *, uow: AbstractUnitOfWork, hasher: PasswordHasher,
                         clock: Clock, settings: Settings) -> model.ContactChange:
    """After the password: a link to the new address (``account.email_change_requested``); the address changes only
    when the link is followed. A newer request makes older links stop working."""
    now, new_email = clock.now(), rules.normalise_email(cmd.new_email)
    with uow:
        account = _active_account(uow, cmd.account_id, for_update=True)
        _check_password(uow, account, cmd.password, hasher=hasher, now=now, settings=settings)
        if new_email == account.email:
            raise errors.InvalidFields({"email": ["same_email"]})
        _supersede(uow, account.account_id, model.EMAIL_CHANGE, now)
        raw = secrets.token_urlsafe(32)
        change = model.ContactChange(change_id=str(uuid.uuid4()), account_id=account.account_id,
                                     kind=model.EMAIL_CHANGE, new_value=new_email, secret_hash=sha256(raw),
                                     created_at=now, expires_at=now + settings.email_change_ttl)
        uow.repo.add_contact_change(change)
        uow.publish(events.AccountEmailChangeRequested(
            account_id=account.account_id, customer_id=account.customer_id, username=account.username,
            email=new_email, current_email=account.email, language=account.language,
            # Sealed for notify (portal_common.sealing): the broker and the other services never see the link.
            confirm_url_sealed=default_sealer().seal(f"{settings.public_url}/account/email/confirm/{raw}",
                                                     account.account_id),
            expires_at=change.expires_at))
        uow.commit()
    log.info("email_change_requested", account_id=cmd.account_id, change_id=change.change_id)
    return change


def confirm_email_change(cmd: commands.ConfirmEmailChange, *, uow: AbstractUnitOfWork, clock: Clock) -> model.Account:
    """Follow the link: the new address becomes the account's (login notices, recovery) and the declaration's
    (new-document e-mails). ``customer.contact_changed`` tells notify (which tells the old address) and the core."""
    now = clock.now()
    with uow:
        change = uow.repo.contact_change_by_hash(sha256(cmd.token), for_update=True)  # a double click confirms once
        if change is None or change.kind != model.EMAIL_CHANGE:
            raise errors.TokenInvalid("unknown")
        state = change.state(now)
        if state != "valid":
            raise errors.TokenInvalid(state)
        account = _active_account(uow, change.account_id, for_update=True)
        previous = account.email
        account.email = change.new_value
        change.confirmed_at = now
        _publish_contact_changed(uow, account, ["email"], now, previous_email=previous)
        uow.commit()
    log.info("email_changed", account_id=account.account_id, change_id=change.change_id)
    return account


def request_mobile_change(cmd: commands.RequestMobileChange, *, uow: AbstractUnitOfWork, hasher: PasswordHasher,
                          clock: Clock, settings: Settings) -> model.ContactChange:
    """After the password: a 6-digit code by SMS to the new number (``account.mobile_change_requested``)."""
    now = clock.now()
    with uow:
        account = _active_account(uow, cmd.account_id, for_update=True)
        _check_password(uow, account, cmd.password, hasher=hasher, now=now, settings=settings)
        if cmd.new_mobile == account.mobile:
            raise errors.InvalidFields({"mobile": ["same_mobile"]})
        _supersede(uow, account.account_id, model.MOBILE_CHANGE, now)
        change_id = str(uuid.uuid4())
        code = f"{secrets.randbelow(10 ** 6):06d}"
        change = model.ContactChange(change_id=change_id, account_id=account.account_id, kind=model.MOBILE_CHANGE,
                                     new_value=cmd.new_mobile, secret_hash=sha256(change_id + code),
                                     created_at=now, expires_at=now + settings.mobile_code_ttl)
        uow.repo.add_contact_change(change)
        uow.publish(events.AccountMobileChangeRequested(
            account_id=account.account_id, customer_id=account.customer_id, mobile=cmd.new_mobile,
            language=account.language, code_sealed=default_sealer().seal(code, account.account_id),
            expires_at=change.expires_at))
        uow.commit()
    log.info("mobile_change_requested", account_id=cmd.account_id, change_id=change.change_id)
    return change


def confirm_mobile_change(cmd: commands.ConfirmMobileChange, *, uow: AbstractUnitOfWork, clock: Clock,
                          settings: Settings) -> model.Account:
    """The code from the SMS: right -> the new number is the account's; wrong -> counted, and after
    ``mobile_code_max_attempts`` wrong codes the change is void (410 ``expired``: ask for a new code)."""
    now = clock.now()
    wrong = False
    with uow:
        account = _active_account(uow, cmd.account_id, for_update=True)  # two submissions are counted one by one
        pending = uow.repo.pending_contact_changes(account.account_id, model.MOBILE_CHANGE, now, for_update=True)
        change = pending[0] if pending else None
        if change is None or change.state(now, settings.mobile_code_max_attempts) != "valid":
            raise errors.TokenInvalid("expired")
        if not secrets.compare_digest(sha256(change.change_id + (cmd.code or "").strip()), change.secret_hash):
            change.failed_attempts += 1
            wrong = True
        else:
            previous = account.mobile
            account.mobile = change.new_value
            change.confirmed_at = now
            _publish_contact_changed(uow, account, ["mobile"], now, previous_mobile=previous)
        uow.commit()
        attempts_left = settings.mobile_code_max_attempts - change.failed_attempts
    if wrong:
        log.info("mobile_code_wrong", account_id=account.account_id, attempts_left=attempts_left)
        if attempts_left <= 0:
            raise errors.TokenInvalid("expired")
        raise errors.InvalidFields({"code": ["wrong_code"]})
    log.info("mobile_changed", account_id=account.account_id, change_id=change.change_id)
    return account


def set_language(cmd: commands.SetLanguage, *, uow: AbstractUnitOfWork, clock: Clock) -> model.Account:
    """The language of the customer's e-mails and SMS (the switch in the page header remembers it)."""
    if cmd.language not in model.LANGUAGES:
        raise errors.InvalidFields({"language": ["invalid_language"]})
    now = clock.now()
    with uow:
        account = _active_account(uow, cmd.account_id, for_update=True)
        if account.language != cmd.language:
            account.language = cmd.language
            _publish_contact_changed(uow, account, ["language"], now)
            uow.commit()
    return account


def _publish_contact_changed(uow: AbstractUnitOfWork, account: model.Account, changed: list[str], now, *,
                             previous_email: str | None = None, previous_mobile: str | None = None) -> None:
    """The account's contact data after the change. The active declaration follows the account: its e-mail address
    (where new-document e-mails go) and language change in the same transaction."""
    declaration = uow.repo.latest_declaration(account.customer_id, for_update=True)
    if declaration is not None and declaration.active:
        if "email" in changed:
            declaration.email = account.email
        if "language" in changed:
            declaration.language = account.language
    uow.publish(events.CustomerContactChanged(
        customer_id=account.customer_id, account_id=account.account_id, username=account.username,
        email=account.email, mobile=account.mobile, language=account.language, changed=changed,
        declaration_email=declaration.email if declaration is not None and declaration.active else None,
        changed_at=now, previous_email=previous_email, previous_mobile=previous_mobile))
