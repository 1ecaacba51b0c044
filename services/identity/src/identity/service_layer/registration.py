"""Registration: the pending account, the activation link, activation with the initial password."""
from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from portal_common import logs
from portal_common.sealing import default_sealer

from ..adapters import orm
from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..adapters.policy_directory import PolicyDirectory
from ..domain import commands, errors, events, model, rules
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork, Conflict
from .common import _spend_recovery_allowance, sha256
from .declarations import _new_declaration, identify

log = logs.get_logger(__name__)


def _issue_activation(uow: AbstractUnitOfWork, account: model.Account, now: datetime, settings: Settings) -> str:
    raw = secrets.token_urlsafe(32)
    expires_at = now + settings.activation_ttl
    uow.repo.add_token(model.ActivationToken(token_hash=sha256(raw), account_id=account.account_id, created_at=now,
                                             expires_at=expires_at))
    uow.publish(events.AccountActivationRequested(
        account_id=account.account_id, customer_id=account.customer_id, username=account.username,
        email=account.email, language=account.language,
        activation_url_sealed=default_sealer().seal(f"{settings.public_url}/activate/{raw}", account.account_id),
        expires_at=expires_at))
    return raw


def _stale_pending(uow: AbstractUnitOfWork, customer_id: str, now: datetime) -> model.Account | None:
    """An active account, or a pending one whose link still works, blocks a new registration. A pending one with no
    valid link left (a mistyped e-mail address, a mail never read) does not: it is returned, to be replaced."""
    current = uow.repo.open_account_of(customer_id)
    if current is None:
        return None
    if current.status != model.PENDING:
        raise errors.AlreadyRegistered()
    if any(token.state(now) == "valid" for token in uow.repo.tokens_of(current.account_id)):
        raise errors.ActivationPending()
    return current


def register(cmd: commands.Register, *, uow: AbstractUnitOfWork, directory: PolicyDirectory, clock: Clock,
             settings: Settings) -> model.Account:
    """Fields are already valid in form (the API's schema checks them with :mod:`identity.domain.rules`); the rules
    that need the database (``username_taken``, ``accept_declaration`` required) are reported together, and nothing
    is saved while any of them fails."""
    holder = identify(cmd.identification, cmd.client_ip, uow=uow, directory=directory, clock=clock, settings=settings)
    if not holder.may_register:
        raise errors.NotEligible()
    now = clock.now()
    key = rules.username_key(cmd.username)
    conflict = None
    with uow:
        stale = _stale_pending(uow, holder.customer_id, now)
        codes: dict[str, list[str]] = {}
        holder_of_name = uow.repo.account_by_username(key)
        if holder_of_name is not None and holder_of_name is not stale:  # the customer may keep their own choice
            codes["username"] = ["username_taken"]
        declaration = uow.repo.latest_declaration(holder.customer_id)
        needs_declaration = declaration is None or not declaration.active
        if needs_declaration and cmd.accept_declaration is not True:
            # Never record a declaration the user did not accept (the registration form has a checkbox for it).
            codes["accept_declaration"] = ["required"]
        if codes:
            raise errors.InvalidFields(codes)
        if stale is not None:
            stale.expire()  # its username is free again, and it no longer counts as the customer's open account
            log.info("pending_account_expired", account_id=stale.account_id)
        if needs_declaration:
            # Registering includes the declaration on electronic communication (channel "registration").
            _new_declaration(uow, customer_id=holder.customer_id,
                             policy_number=cmd.identification.policy_number.strip(), email=cmd.email,
                             language=cmd.language, channel="registration", now=now, settings=settings)
        account = model.Account(
            account_id=str(uuid.uuid4()), customer_id=holder.customer_id, username=cmd.username.strip(),
            username_key=key, email=rules.normalise_email(cmd.email), mobile=cmd.mobile, language=cmd.language,
            status=model.PENDING, created_at=now)
        uow.repo.add_account(account)
        _issue_activation(uow, account, now, settings)
        try:
            uow.commit()
        except Conflict as exc:  # a concurrent registration won the race
            conflict = exc
    if conflict is not None:
        if conflict.rule == orm.USERNAME:
            raise errors.InvalidFields({"username": ["username_taken"]})
        with uow:  # say what the winner left: usually a pending account with a fresh link
            winner = uow.repo.open_account_of(holder.customer_id)
        if winner is not None and winner.status == model.PENDING:
            raise errors.ActivationPending()
        raise errors.AlreadyRegistered()
    log.info("account_registered", account_id=account.account_id)
    return account


def resend_activation(cmd: commands.ResendActivation, *, uow: AbstractUnitOfWork, clock: Clock,
                      settings: Settings) -> None:
    """A new link for a pending account with this e-mail; the older links stop working. Says nothing either way;
    limited per client together with recovery (:func:`_spend_recovery_allowance`)."""
    _spend_recovery_allowance(cmd.client_ip, uow=uow, clock=clock, settings=settings)
    now = clock.now()
    with uow:
        pending = uow.repo.accounts_by_email(rules.normalise_email(cmd.email), model.PENDING)
        for account in pending:
            uow.repo.revoke_tokens(account.account_id, now)
            _issue_activation(uow, account, now, settings)
        uow.commit()
    for account in pending:
        log.info("activation_resent", account_id=account.account_id)


def activate(cmd: commands.Activate, *, uow: AbstractUnitOfWork, hasher: PasswordHasher,
             clock: Clock) -> model.Account:
    now = clock.now()
    with uow:
        token = uow.repo.get_token(sha256(cmd.token), for_update=True)  # a double click activates once
        if token is None:
            raise errors.TokenInvalid("unknown")
        state = token.state(now)
        if state != "valid":
            raise errors.TokenInvalid(state)
        account = uow.repo.get_account(token.account_id)
        if account is None or account.status != model.PENDING:
            raise errors.TokenInvalid("used")
        password = rules.generate_password()
        account.activate(hasher.hash(password), now)
        token.used_at = now
        person = dict(account_id=account.account_id, customer_id=account.customer_id, username=account.username,
                      mobile=account.mobile, language=account.language)
        uow.publish(events.AccountActivated(**person, email=account.email, activated_at=now))
        # The password goes to notify alone (documents also hears account.activated), sealed for it.
        uow.publish(events.AccountInitialPasswordIssued(
            **person, initial_password_sealed=default_sealer().seal(password, account.account_id)))
        uow.commit()
    log.info("account_activated", account_id=account.account_id)
    return account


def get_account(account_id: str, *, uow: AbstractUnitOfWork) -> model.Account:
    with uow:
        account = uow.repo.get_account(account_id)
        if account is None:
            raise errors.NotFound(account_id)
        return account
