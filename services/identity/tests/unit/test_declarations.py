"""Withdrawing the declaration: without a portal login (identified like a declaration), and on closing the account."""
from dataclasses import replace

import pytest

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"


def declare(world, ident=None):
    return world.handle(handlers.declare, commands.Declare(ident or world.anna, "anna@example.com", "hu", "10.0.0.1"))


def withdraw(world, ident=None, ip="10.0.0.1"):
    return world.handle(handlers.withdraw_identified_declaration,
                        commands.WithdrawIdentifiedDeclaration(ident or world.anna, ip))


# -------------------------------------------------------------------------------------- without a portal login
def test_someone_who_only_declared_can_withdraw_it_and_the_event_goes_out_once(world):
    declaration = declare(world)
    world.clock.advance(days=3)
    withdrawn = withdraw(world, replace(world.anna, name=" MINTA anna "))
    assert withdrawn.declaration_id == declaration.declaration_id and withdrawn.withdrawn_at == world.clock.now()
    world.clock.advance(minutes=5)
    with pytest.raises(errors.NoDeclaration):  # nothing active left: no second event
        withdraw(world)
    [event] = world.events("customer.declaration_withdrawn")
    assert event == {"declaration_id": declaration.declaration_id, "customer_id": "C-1001",
                     "email": "anna@example.com", "language": "hu",
                     "withdrawn_at": handlers.iso(withdrawn.withdrawn_at)}
    assert world.handle(handlers.get_declaration, "C-1001").active is False


def test_no_declaration_to_withdraw(world):
    with pytest.raises(errors.NoDeclaration):
        withdraw(world, world.cheque)  # identified (no eligible policy needed), but never declared
    assert world.events() == []


def test_a_mismatch_is_the_generic_identification_failure_and_is_throttled_with_declarations(world):
    declare(world)
    wrong = replace(world.anna, birth_place="Budapest")
    for _ in range(4):
        with pytest.raises(errors.IdentificationFailed):
            withdraw(world, wrong, ip="203.0.113.9")
    with pytest.raises(errors.IdentificationFailed):
        world.handle(handlers.declare, commands.Declare(wrong, "a@example.com", "hu", "203.0.113.9"))
    with pytest.raises(errors.Throttled):
        withdraw(world, ip="203.0.113.9")  # even the right data waits
    assert world.handle(handlers.get_declaration, "C-1001").active is True


# ------------------------------------------------------------------------------------------------ closing
def test_closing_the_account_withdraws_the_declaration_too(world):
    account = world.active_account()  # the registration recorded the declaration
    world.clock.advance(days=10)
    world.handle(handlers.close_account, commands.CloseAccount(account.account_id, PASSWORD))
    declaration = world.handle(handlers.get_declaration, "C-1001")
    assert declaration.active is False and declaration.withdrawn_at == world.clock.now()
    names = [name for name, _, _ in world.published]
    assert names[-2:] == ["account.closed", "customer.declaration_withdrawn"]  # staged and committed together
    [event] = world.events("customer.declaration_withdrawn")
    assert event["customer_id"] == "C-1001" and event["withdrawn_at"] == handlers.iso(world.clock.now())


def test_a_refused_closing_keeps_the_declaration(world):
    account = world.active_account()
    with pytest.raises(errors.InvalidFields):
        world.handle(handlers.close_account, commands.CloseAccount(account.account_id, "not-my-password"))
    assert world.handle(handlers.get_declaration, "C-1001").active is True
    assert world.events("customer.declaration_withdrawn") == []


def test_closing_after_a_withdrawal_publishes_no_second_withdrawal(world):
    account = world.active_account()
    world.handle(handlers.withdraw_declaration, commands.WithdrawDeclaration("C-1001"))
    world.handle(handlers.close_account, commands.CloseAccount(account.account_id, PASSWORD))
    assert len(world.events("customer.declaration_withdrawn")) == 1
