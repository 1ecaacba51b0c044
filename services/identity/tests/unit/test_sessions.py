"""Sessions: idle timeout, sliding, logout, and which events end them."""
import pytest

from identity.domain import commands, errors
from identity.service_layer import handlers

PASSWORD = "Kezdo-Jelszo-2026"
NEW = "Uj-Sajat-Jelszavam-77"


def login(world, password=PASSWORD):
    return world.handle(handlers.login, commands.Login("minta.anna", password))[0]


def touch(world, session_id):
    return world.handle(handlers.touch_session, commands.TouchSession(session_id))


def test_a_session_ends_after_15_minutes_idle(world):
    world.active_account()
    session_id = login(world)
    world.clock.advance(minutes=14, seconds=59)
    touch(world, session_id)
    world.clock.advance(minutes=15)
    with pytest.raises(errors.SessionExpired):
        touch(world, session_id)
    assert world.repo.sessions == {}


def test_using_a_session_slides_its_idle_timer(world):
    world.active_account()
    session_id = login(world)
    for _ in range(6):  # 60 minutes of activity, never 15 idle
        world.clock.advance(minutes=10)
        touch(world, session_id)


def test_logout_deletes_the_session(world):
    world.active_account()
    session_id = login(world)
    world.handle(handlers.logout, commands.Logout(session_id))
    with pytest.raises(errors.SessionExpired):
        touch(world, session_id)


def test_an_unknown_session_id_is_expired(world):
    with pytest.raises(errors.SessionExpired):
        touch(world, "made-up")


def test_a_password_change_ends_the_other_sessions(world):
    account = world.active_account()
    here, elsewhere = login(world), login(world)
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, PASSWORD, NEW, here))
    touch(world, here)
    with pytest.raises(errors.SessionExpired):
        touch(world, elsewhere)
    [event] = world.events("account.password_changed")
    assert event["account_id"] == account.account_id and event["email"] == "anna@example.com"
    assert account.must_change_password is False
    world.handle(handlers.login, commands.Login("minta.anna", NEW))
    with pytest.raises(errors.InvalidCredentials):
        world.handle(handlers.login, commands.Login("minta.anna", PASSWORD))


def test_without_a_session_to_keep_the_most_recently_used_one_is_kept(world):
    account = world.active_account()
    older, newer = login(world), login(world)
    world.clock.advance(minutes=1)
    touch(world, older)  # the gateway checks the session of the request before forwarding it
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, PASSWORD, NEW))
    touch(world, older)
    with pytest.raises(errors.SessionExpired):
        touch(world, newer)


def test_a_password_change_checks_the_current_password_and_the_policy(world):
    account = world.active_account()
    with pytest.raises(errors.InvalidFields) as invalid:
        world.handle(handlers.change_password,
                     commands.ChangePassword(account.account_id, "not-my-password", "minta.anna-123"))
    assert invalid.value.codes == {"current_password": ["wrong_password"], "new_password": ["contains_username"]}
    assert world.events("account.password_changed") == []


def test_closing_the_account_ends_every_session_and_needs_the_password(world):
    account = world.active_account()
    session_id = login(world)
    with pytest.raises(errors.InvalidFields) as invalid:
        world.handle(handlers.close_account, commands.CloseAccount(account.account_id, "wrong-password-1"))
    assert invalid.value.codes == {"password": ["wrong_password"]}
    world.handle(handlers.close_account, commands.CloseAccount(account.account_id, PASSWORD))
    with pytest.raises(errors.SessionExpired):
        touch(world, session_id)
    [event] = world.events("account.closed")
    assert event["customer_id"] == "C-1001" and account.status == "closed"


def stored_last_seen(world, session_id):
    from identity.service_layer.handlers import sha256

    return world.repo.sessions[sha256(session_id)].last_seen_at


def test_page_views_within_a_minute_of_the_stored_one_write_nothing(world):
    world.active_account()
    session_id = login(world)
    logged_in_at = stored_last_seen(world, session_id)
    world.clock.advance(seconds=59)
    touch(world, session_id)
    assert stored_last_seen(world, session_id) == logged_in_at
    world.clock.advance(seconds=1)
    touch(world, session_id)
    assert stored_last_seen(world, session_id) == world.clock.now()


def test_the_coarse_idle_timer_never_lets_a_session_live_longer_than_15_minutes_idle(world):
    world.active_account()
    session_id = login(world)
    world.clock.advance(seconds=30)
    touch(world, session_id)  # not written: the stored time stays at the login
    world.clock.advance(minutes=14, seconds=30)  # 15 minutes after the stored time, 14:30 after the last use
    with pytest.raises(errors.SessionExpired):
        touch(world, session_id)


def test_frequent_page_views_keep_a_session_alive_for_an_hour(world):
    world.active_account()
    session_id = login(world)
    for _ in range(72):  # a page every 50 s: most views write nothing, the session never idles 15 minutes
        world.clock.advance(seconds=50)
        touch(world, session_id)
    world.clock.advance(minutes=15)
    with pytest.raises(errors.SessionExpired):
        touch(world, session_id)


def test_logout_and_password_change_end_sessions_that_were_just_used(world):
    account = world.active_account()
    here, elsewhere, gone = login(world), login(world), login(world)
    for session_id in (here, elsewhere, gone):
        touch(world, session_id)  # within the minute: nothing written, still ended at once below
    world.handle(handlers.logout, commands.Logout(gone))
    with pytest.raises(errors.SessionExpired):
        touch(world, gone)
    world.handle(handlers.change_password, commands.ChangePassword(account.account_id, PASSWORD, NEW, here))
    touch(world, here)
    with pytest.raises(errors.SessionExpired):
        touch(world, elsewhere)


def test_the_session_check_answers_whether_the_customer_has_an_active_declaration(world):
    account = world.active_account()  # registered with the declaration accepted
    session_id = login(world)
    live = touch(world, session_id)
    assert live.declaration_active is True and live.customer_id == account.customer_id
    world.handle(handlers.withdraw_declaration, commands.WithdrawDeclaration(account.customer_id))
    assert touch(world, session_id).declaration_active is False
    world.handle(handlers.declare, commands.Declare(world.anna, "anna@example.com", "hu", "10.0.0.1"))
    assert touch(world, session_id).declaration_active is True
