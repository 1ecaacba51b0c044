"""Identification and the declaration on electronic communication (make, read, withdraw)."""
from __future__ import annotations

import uuid
from datetime import datetime

from portal_common import logs

from ..adapters.clock import Clock
from ..adapters.policy_directory import PolicyDirectory, Policyholder
from ..domain import commands, errors, events, model, rules
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork, Conflict
from .common import IDENTIFICATION, _give_back_now, _take_allowance, client_key

log = logs.get_logger(__name__)


def identify(ident: commands.Identification, client_ip: str, *, uow: AbstractUnitOfWork, directory: PolicyDirectory,
             clock: Clock, settings: Settings) -> Policyholder:
    """Ask the policies service who this is. Failures are counted per client (stored in the database, so every
    gunicorn worker sees them) and throttled; a mismatch never says which item failed. The attempt is counted
    before the question (so parallel requests cannot all ask) and given back when it matched."""
    attempt = _take_allowance(uow, IDENTIFICATION, client_ip, settings.identify_max_failures,
                              settings.identify_window, clock.now())
    try:
        holder = directory.match(ident)  # no transaction is held open during the HTTP call
    except errors.DirectoryUnavailable:
        _give_back_now(uow, attempt)  # not a mismatch
        raise
    if holder is None:
        log.info("identification_failed", client=client_key(client_ip))
        raise errors.IdentificationFailed()
    _give_back_now(uow, attempt)
    return holder


def _new_declaration(uow: AbstractUnitOfWork, *, customer_id: str, policy_number: str, email: str, language: str,
                     channel: str, now: datetime, settings: Settings) -> model.Declaration:
    declaration = model.Declaration(
        declaration_id=str(uuid.uuid4()), customer_id=customer_id, policy_number=policy_number,
        email=rules.normalise_email(email), language=language, text_version=settings.declaration_version,
        channel=channel, declared_at=now)
    uow.repo.add_declaration(declaration)
    uow.publish(events.CustomerDeclared(
        declaration_id=declaration.declaration_id, customer_id=customer_id, policy_number=policy_number,
        email=declaration.email, language=language, text_version=declaration.text_version,
        channel=channel, declared_at=now))
    return declaration


def declare(cmd: commands.Declare, *, uow: AbstractUnitOfWork, directory: PolicyDirectory, clock: Clock,
            settings: Settings) -> model.Declaration:
    holder = identify(cmd.identification, cmd.client_ip, uow=uow, directory=directory, clock=clock, settings=settings)
    with uow:
        existing = uow.repo.latest_declaration(holder.customer_id)
        if existing is not None and existing.active:
            raise errors.AlreadyDeclared()
        declaration = _new_declaration(uow, customer_id=holder.customer_id,
                                       policy_number=cmd.identification.policy_number.strip(), email=cmd.email,
                                       language=cmd.language, channel="portal", now=clock.now(), settings=settings)
        try:
            uow.commit()
        except Conflict:
            raise errors.AlreadyDeclared() from None
    log.info("declaration_recorded", declaration_id=declaration.declaration_id, channel="portal")
    return declaration


def get_declaration(customer_id: str, *, uow: AbstractUnitOfWork) -> model.Declaration:
    with uow:
        declaration = uow.repo.latest_declaration(customer_id)
        if declaration is None:
            raise errors.NotFound(customer_id)
        return declaration


def _withdraw(uow: AbstractUnitOfWork, declaration: model.Declaration, now: datetime, reason: str) -> None:
    """Back to paper post, and an event the core system (and notify) act on. The caller commits."""
    declaration.withdrawn_at = now
    uow.publish(events.CustomerDeclarationWithdrawn(
        declaration_id=declaration.declaration_id, customer_id=declaration.customer_id,
        email=declaration.email, language=declaration.language, withdrawn_at=now))
    log.info("declaration_withdrawn", declaration_id=declaration.declaration_id, reason=reason)


def withdraw_declaration(cmd: commands.WithdrawDeclaration, *, uow: AbstractUnitOfWork,
                         clock: Clock) -> model.Declaration:
    """Back to paper post. Idempotent: withdrawing again returns the withdrawn declaration without a new event."""
    with uow:
        declaration = uow.repo.latest_declaration(cmd.customer_id, for_update=True)  # concurrent: one event
        if declaration is None:
            raise errors.NotFound(cmd.customer_id)
        if declaration.active:
            _withdraw(uow, declaration, clock.now(), reason="customer")
            uow.commit()
        return declaration


def withdraw_identified_declaration(cmd: commands.WithdrawIdentifiedDeclaration, *, uow: AbstractUnitOfWork,
                                    directory: PolicyDirectory, clock: Clock,
                                    settings: Settings) -> model.Declaration:
    """Withdrawal by someone who only declared (step 0) and has no portal login: identified exactly like a
    declaration (the same throttle, the same generic mismatch). Nothing active to withdraw (never declared, or
    withdrawn already) is :class:`~identity.domain.errors.NoDeclaration`, so the event goes out once."""
    holder = identify(cmd.identification, cmd.client_ip, uow=uow, directory=directory, clock=clock, settings=settings)
    with uow:
        # the row lock: a concurrent withdrawal waits, then finds nothing active
        declaration = uow.repo.latest_declaration(holder.customer_id, for_update=True)
        if declaration is None or not declaration.active:
            raise errors.NoDeclaration()
        _withdraw(uow, declaration, clock.now(), reason="identified")
        uow.commit()
        return declaration
