"""Wrong passwords typed on logged-in pages (change password, close account) count towards the lockout like wrong
logins: a stolen session must not become an unlimited way to guess the password."""
import pytest

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"
WRONG = "wrong-password-123"
NEW = "Egy hosszu uj jelmondat 2026"


def change(world, account, current, new=NEW):
    return world.handle(handlers.change_password, commands.ChangePassword(account.account_id, current, new))


def close(world, account, password):
    return world.handle(handlers.close_account, commands.CloseAccount(account.account_id, password))


def login(world, password):
    return world.handle(handlers.login, commands.Login("minta.anna", password))


def test_the_third_wrong_current_password_locks_tells_the_owner_and_ends_every_session(world):
    account = world.active_account()
    session_id, _ = login(world, PASSWORD)
    for _ in range(2):
        with pytest.raises(errors.InvalidFields) as invalid:
            change(world, account, WRONG)
        assert invalid.value.codes == {"current_password": ["wrong_password"]}
    assert account.failed_attempts == 2 and world.events("account.locked") == []
    with pytest.raises(errors.Locked) as locked:
        change(world, account, WRONG)
    assert locked.value.locked_until == world.clock.now() + world.settings.lockout
    [event] = world.events("account.locked")
    assert event["failed_attempts"] == 3
    with pytest.raises(errors.SessionExpired):
        world.handle(handlers.touch_session, commands.TouchSession(session_id))
    with pytest.raises(errors.Locked):  # and the login waits for the lock like after three wrong logins
        login(world, PASSWORD)


def test_wrong_passwords_on_close_account_and_at_login_count_in_one_series(world):
    account = world.active_account()
    with pytest.raises(errors.InvalidFields) as invalid:
        close(world, account, WRONG)
    assert invalid.value.codes == {"password": ["wrong_password"]}
    with pytest.raises(errors.InvalidFields):
        change(world, account, WRONG)
    with pytest.raises(errors.Locked):
        login(world, WRONG)  # the third of the series
    assert account.status == "active"
    with pytest.raises(errors.Locked):  # while locked even the right password does not close the account
        close(world, account, PASSWORD)
    assert account.status == "active"


def test_the_right_current_password_ends_the_series(world):
    account = world.active_account()
    for _ in range(2):
        with pytest.raises(errors.InvalidCredentials):
            login(world, WRONG)
    with pytest.raises(errors.InvalidFields) as invalid:  # right password, new one too short: still a reset
        change(world, account, PASSWORD, new="rovid")
    assert "current_password" not in invalid.value.codes
    assert account.failed_attempts == 0
    with pytest.raises(errors.InvalidCredentials):  # the 1st of a new series
        login(world, WRONG)
