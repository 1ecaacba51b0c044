"""Per-client limits (X-Client-IP, stored like the identification throttle): recovery and resend requests, and
failed logins (password spraying). The 429 is the same for everyone and comes before anything is looked up."""
from dataclasses import replace

import pytest

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"


def recover(world, ip, email="anna@example.com", mobile="+36301234567"):
    return world.handle(handlers.request_recovery, commands.RequestRecovery(email, mobile, client_ip=ip))


def resend(world, ip, email="anna@example.com"):
    return world.handle(handlers.resend_activation, commands.ResendActivation(email, client_ip=ip))


def login(world, username, password, ip):
    return world.handle(handlers.login, commands.Login(username, password, client_ip=ip))


# ------------------------------------------------------------------------------------------ recovery and resend
def test_five_recovery_requests_per_client_in_15_minutes_then_429_whatever_the_address(world):
    world.active_account()
    for i in range(5):
        recover(world, "203.0.113.9", email=f"someone{i}@example.com")
        world.clock.advance(minutes=1)
    hashes = world.hasher.hashes
    for email in ("anna@example.com", "nobody@example.com"):  # a match and no match: the same refusal
        with pytest.raises(errors.Throttled) as throttled:
            recover(world, "203.0.113.9", email=email)
        assert throttled.value.retry_after == 10 * 60  # the first request (minute 0) leaves the window at 15
    assert world.hasher.hashes == hashes  # refused before any work or lookup
    assert world.events("account.credentials_reset") == []
    recover(world, "198.51.100.7")  # another client is not affected
    assert len(world.events("account.credentials_reset")) == 1
    world.clock.advance(minutes=10)
    recover(world, "203.0.113.9")


def test_resend_and_recovery_share_one_allowance(world):
    world.handle(handlers.register, commands.Register(world.anna, "anna@example.com", "+36301234567", "minta.anna",
                                                      "hu", "10.0.0.1", accept_declaration=True))
    for _ in range(3):
        resend(world, "203.0.113.9")
    for _ in range(2):
        recover(world, "203.0.113.9")
    with pytest.raises(errors.Throttled):
        resend(world, "203.0.113.9")
    with pytest.raises(errors.Throttled):
        recover(world, "203.0.113.9")
    assert len(world.events("account.activation_requested")) == 1 + 3


def test_the_recovery_allowance_is_configurable(world):
    world.wiring.settings = replace(world.settings, recovery_max_per_client=1, client_window_minutes=60)
    recover(world, "203.0.113.9")
    world.clock.advance(minutes=59)
    with pytest.raises(errors.Throttled) as throttled:
        resend(world, "203.0.113.9")
    assert throttled.value.retry_after == 60


# ------------------------------------------------------------------------------------------- failed logins
def test_twenty_failed_logins_per_client_in_15_minutes_then_429_even_for_the_right_password(world):
    world.active_account()
    for i in range(20):  # password spraying: one password, many names (each name stays below its own lock)
        with pytest.raises(errors.InvalidCredentials):
            login(world, f"user{i}", "Tavasz2026!", "203.0.113.9")
    for username, password in (("minta.anna", PASSWORD), ("user99", "Tavasz2026!")):
        with pytest.raises(errors.Throttled) as throttled:
            login(world, username, password, "203.0.113.9")
        assert throttled.value.retry_after == 15 * 60
    assert world.repo.accounts and all(a.failed_attempts == 0 for a in world.repo.accounts.values())
    login(world, "minta.anna", PASSWORD, "198.51.100.7")  # another client is not affected
    world.clock.advance(minutes=15)
    login(world, "minta.anna", PASSWORD, "203.0.113.9")


def test_locked_answers_count_as_failures_and_successful_logins_do_not(world):
    world.wiring.settings = replace(world.settings, login_max_failures_per_client=4)
    world.active_account()
    for _ in range(10):
        login(world, "minta.anna", PASSWORD, "203.0.113.9")
    outcomes = []
    for _ in range(5):
        try:
            login(world, "minta.anna", "wrong-password-123", "203.0.113.9")
        except errors.IdentityError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes == ["InvalidCredentials", "InvalidCredentials", "Locked", "Locked", "Throttled"]
