"""``account.sessions_ended`` (issue 9): every way identity ends sessions on purpose writes exactly one, in the same
unit of work, with its reason and the account's ids; an idle session found expired writes none, nor does a logout
of a session already gone. The gateway forgets what it cached for the account when it receives one."""
import json

import pytest

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"
NEW = "Uj-Sajat-Jelszavam-77"
WRONG = "wrong-password-123"


def login(world, password=PASSWORD):
    return world.handle(handlers.login, commands.Login("minta.anna", password))[0]


def ended(world) -> list[dict]:
    return world.events("account.sessions_ended")


def assert_one(world, account, reason, *session_ids):
    [event] = ended(world)
    assert event == {"account_id": account.account_id, "customer_id": "C-1001", "reason": reason,
                     "ended_at": world.clock.now().isoformat()}
    assert event["ended_at"].endswith("+00:00")
    text = json.dumps(event)
    for sid in session_ids:  # neither the session id nor its stored hash
        assert sid not in text and handlers.sha256(sid) not in text
    for password in (PASSWORD, NEW, WRONG):
        assert password not in text


def test_logout_ends_one_session_and_says_so_once(world):
    account = world.active_account()
    here, elsewhere = login(world), login(world)
    world.clock.advance(minutes=3)
    world.handle(handlers.logout, commands.Logout(here))
    assert_one(world, account, "logout", here, elsewhere)
    world.handle(handlers.logout, commands.Logout(here))  # already gone: nothing ended
    world.handle(handlers.logout, commands.Logout("made-up"))
    assert len(ended(world)) == 1
    world.handle(handlers.touch_session, commands.TouchSession(elsewhere))  # the other session lives on


def test_a_password_change_ends_the_other_sessions_in_one_event(world):
    account = world.active_account()
    here, elsewhere, third = login(world), login(world), login(world)
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, PASSWORD, NEW, here))
    assert_one(world, account, "password_changed", here, elsewhere, third)


def test_a_password_change_with_no_other_session_still_says_so_the_kept_sessions_answer_changed(world):
    account = world.active_account()
    account.must_change_password = True  # as after the first login with the initial password
    here = login(world)
    assert world.handle(handlers.touch_session, commands.TouchSession(here)).must_change_password is True
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, PASSWORD, NEW, here))
    assert_one(world, account, "password_changed", here)
    assert world.handle(handlers.touch_session, commands.TouchSession(here)).must_change_password is False


def test_a_refused_password_change_ends_nothing(world):
    account = world.active_account()
    login(world)
    with pytest.raises(errors.InvalidFields):
        world.handle(handlers.change_password, commands.ChangePassword(account.account_id, WRONG, NEW))
    with pytest.raises(errors.InvalidFields):
        world.handle(handlers.change_password, commands.ChangePassword(account.account_id, PASSWORD, "short"))
    assert ended(world) == []


def test_the_wrong_password_that_locks_on_a_logged_in_page_ends_every_session(world):
    account = world.active_account()
    here, elsewhere = login(world), login(world)
    for _ in range(2):
        with pytest.raises(errors.InvalidFields):
            world.handle(handlers.change_password, commands.ChangePassword(account.account_id, WRONG, NEW))
    assert ended(world) == []
    with pytest.raises(errors.Locked):
        world.handle(handlers.close_account, commands.CloseAccount(account.account_id, WRONG))
    assert_one(world, account, "account_locked", here, elsewhere)


def test_a_credentials_reset_ends_every_session(world):
    account = world.active_account()
    here, elsewhere = login(world), login(world)
    world.handle(handlers.request_recovery, commands.RequestRecovery("anna@example.com", "+36301234567"))
    assert_one(world, account, "credentials_reset", here, elsewhere)
    with pytest.raises(errors.SessionExpired):
        world.handle(handlers.touch_session, commands.TouchSession(here))


def test_a_credentials_reset_without_a_session_ends_nothing(world):
    world.active_account()
    world.handle(handlers.request_recovery, commands.RequestRecovery("anna@example.com", "+36301234567"))
    assert world.events("account.credentials_reset") and ended(world) == []


def test_closing_the_account_ends_every_session(world):
    account = world.active_account()
    here, elsewhere = login(world), login(world)
    world.handle(handlers.close_account, commands.CloseAccount(account.account_id, PASSWORD))
    assert_one(world, account, "account_closed", here, elsewhere)


def test_an_idle_session_found_expired_ends_nothing_new(world):
    world.active_account()
    session_id = login(world)
    world.clock.advance(minutes=15)
    with pytest.raises(errors.SessionExpired):
        world.handle(handlers.touch_session, commands.TouchSession(session_id))
    assert world.repo.sessions == {} and ended(world) == []
