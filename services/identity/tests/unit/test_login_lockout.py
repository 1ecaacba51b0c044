"""Login with the 3-strike lockout, with a controllable clock."""
from datetime import timedelta

import pytest

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"


def login(world, password, username="minta.anna"):
    return world.handle(handlers.login, commands.Login(username, password))


def test_the_right_password_logs_in(world):
    account = world.active_account()
    session_id, logged_in = login(world, PASSWORD)
    assert logged_in.account_id == account.account_id and len(session_id) >= 40


def test_the_username_is_case_insensitive(world):
    world.active_account()
    login(world, PASSWORD, username="MINTA.Anna")


def test_the_second_wrong_password_does_not_lock_the_third_does(world):
    account = world.active_account()
    for _ in range(2):
        with pytest.raises(errors.InvalidCredentials):
            login(world, "wrong-password-123")
    assert account.locked_until is None and account.failed_attempts == 2
    assert world.events("account.locked") == []

    with pytest.raises(errors.Locked) as locked:
        login(world, "wrong-password-123")
    assert locked.value.locked_until == world.clock.now() + world.settings.lockout
    [event] = world.events("account.locked")
    assert event["failed_attempts"] == 3 and event["email"] == "anna@example.com"
    assert event["locked_until"] == handlers.iso(locked.value.locked_until)


def test_while_locked_even_the_right_password_gets_locked_and_attempts_do_not_relock(world):
    world.active_account()
    for _ in range(3):
        with pytest.raises((errors.InvalidCredentials, errors.Locked)):
            login(world, "wrong-password-123")
    world.clock.advance(hours=23, minutes=59)
    with pytest.raises(errors.Locked):
        login(world, PASSWORD)
    with pytest.raises(errors.Locked):
        login(world, "wrong-password-123")
    assert len(world.events("account.locked")) == 1  # one notice per lock


def test_the_lock_ends_after_24_hours(world):
    account = world.active_account()
    for _ in range(3):
        with pytest.raises((errors.InvalidCredentials, errors.Locked)):
            login(world, "wrong-password-123")
    world.clock.advance(hours=24)
    login(world, PASSWORD)
    assert account.failed_attempts == 0 and account.locked_until is None


def test_after_an_expired_lock_the_count_starts_again(world):
    world.active_account()
    for _ in range(3):
        with pytest.raises((errors.InvalidCredentials, errors.Locked)):
            login(world, "wrong-password-123")
    world.clock.advance(hours=25)
    with pytest.raises(errors.InvalidCredentials):  # the 1st of a new series, not the 4th
        login(world, "wrong-password-123")


def test_a_successful_login_resets_the_count(world):
    account = world.active_account()
    for _ in range(2):
        with pytest.raises(errors.InvalidCredentials):
            login(world, "wrong-password-123")
    login(world, PASSWORD)
    assert account.failed_attempts == 0
    for _ in range(2):
        with pytest.raises(errors.InvalidCredentials):
            login(world, "wrong-password-123")
    assert account.locked_until is None


def test_the_threshold_and_duration_are_configurable(world):
    from dataclasses import replace

    world.wiring.settings = replace(world.settings, lockout_threshold=5, lockout_hours=1)
    world.active_account()
    for _ in range(4):
        with pytest.raises(errors.InvalidCredentials):
            login(world, "wrong-password-123")
    with pytest.raises(errors.Locked) as locked:
        login(world, "wrong-password-123")
    assert locked.value.locked_until == world.clock.now() + timedelta(hours=1)


def test_unknown_username_and_wrong_password_look_the_same_and_cost_the_same(world):
    world.active_account()
    world.hasher.verifications = 0
    with pytest.raises(errors.InvalidCredentials) as unknown:
        login(world, "whatever-1234", username="nobody")
    unknown_cost = world.hasher.verifications
    world.hasher.verifications = 0
    with pytest.raises(errors.InvalidCredentials) as known:
        login(world, "whatever-1234")
    assert unknown_cost == world.hasher.verifications == 1  # the password's (or a dummy hash's), nothing else
    assert type(unknown.value) is type(known.value)


def test_an_account_not_yet_activated_cannot_log_in_and_looks_unknown(world):
    world.handle(handlers.register, commands.Register(world.anna, "anna@example.com", "+36301234567", "minta.anna",
                                                      "hu", "10.0.0.1", accept_declaration=True))
    with pytest.raises(errors.InvalidCredentials):
        login(world, "anything-123456")


def test_every_login_gets_a_new_session_id(world):
    world.active_account()
    first, _ = login(world, PASSWORD)
    second, _ = login(world, PASSWORD)
    assert first != second
    assert first not in world.repo.sessions  # only hashes are stored
    assert handlers.sha256(first) in world.repo.sessions


def test_an_outdated_hash_is_upgraded_at_login(world):
    account = world.active_account()
    world.hasher.outdated.add(account.password_hash)
    before = world.hasher.hashes
    login(world, PASSWORD)
    assert world.hasher.hashes == before + 1
    assert world.hasher.verify(account.password_hash, PASSWORD)


def test_a_closed_account_cannot_log_in(world):
    account = world.active_account()
    world.handle(handlers.close_account, commands.CloseAccount(account.account_id, PASSWORD))
    with pytest.raises(errors.InvalidCredentials):
        login(world, PASSWORD)
