"""Forgotten username or password: the same answer whatever matched; the one-time password's rules."""
import pytest
from portal_common.testing import unsealed

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"


def recover(world, email="anna@example.com", mobile="06 30 123 4567"):
    return world.handle(handlers.request_recovery, commands.RequestRecovery(email, mobile))


def otp_of(world):
    return unsealed(world.events("account.credentials_reset")[-1], "one_time_password")


def login(world, password):
    return world.handle(handlers.login, commands.Login("minta.anna", password))


def test_matching_email_and_mobile_get_a_one_time_password(world):
    account = world.active_account()
    assert recover(world, email=" ANNA@example.com ") is None
    [event] = world.events("account.credentials_reset")
    assert event["username"] == "minta.anna" and event["mobile"] == "+36301234567"
    assert event["expires_at"] == handlers.iso(world.clock.now() + world.settings.otp_ttl)
    assert world.secrets_of("account.credentials_reset") == ("one_time_password_sealed",)
    # stored as its SHA-256 (random like a token: no slow hash, so nothing to time), never in clear
    assert account.otp_hash == handlers.sha256(otp_of(world)) != otp_of(world)


@pytest.mark.parametrize("email, mobile", [("anna@example.com", "+36 20 999 9999"),
                                           ("other@example.com", "+36 30 123 4567"),
                                           ("nobody@example.com", "not a number")])
def test_a_partial_or_no_match_answers_the_same_and_costs_the_same(world, email, mobile):
    world.active_account()
    hashes = world.hasher.hashes
    assert recover(world, email, mobile) is None
    unmatched_cost = world.hasher.hashes - hashes
    assert world.events("account.credentials_reset") == []
    hashes = world.hasher.hashes
    assert recover(world) is None
    assert unmatched_cost == world.hasher.hashes - hashes == 0  # no password hashing on either path


def test_a_reset_ends_every_session(world):
    world.active_account()
    session_id, _ = login(world, PASSWORD)
    recover(world)
    with pytest.raises(errors.SessionExpired):
        world.handle(handlers.touch_session, commands.TouchSession(session_id))


def test_the_one_time_password_logs_in_once_and_forces_a_new_password(world):
    account = world.active_account()
    recover(world)
    otp = otp_of(world)
    _, logged_in = login(world, otp)
    assert logged_in.must_change_password is True
    with pytest.raises(errors.InvalidCredentials):
        login(world, otp)  # single use
    # …but it is still the "current password" for the forced change
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, otp, "Vadonat-Uj-Jelszo-9"))
    assert account.must_change_password is False
    login(world, "Vadonat-Uj-Jelszo-9")


def test_the_one_time_password_expires_after_24_hours(world):
    world.active_account()
    recover(world)
    world.clock.advance(hours=24)
    with pytest.raises(errors.InvalidCredentials):
        login(world, otp_of(world))


def test_the_one_time_password_lifts_an_active_lock(world):
    account = world.active_account()
    for _ in range(3):
        with pytest.raises((errors.InvalidCredentials, errors.Locked)):
            login(world, "wrong-password-123")
    recover(world)
    login(world, otp_of(world))
    assert account.locked_until is None and account.failed_attempts == 0


def test_the_old_password_keeps_working_until_the_one_time_password_is_used(world):
    world.active_account()
    recover(world)
    login(world, PASSWORD)
