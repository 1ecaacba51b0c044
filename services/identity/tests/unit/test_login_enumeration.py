"""OWASP ASVS 6.3.8 on login: an unknown username behaves exactly like a known one — the same answers in the same
order (401, 401, then 423 with a locked_until), and the same argon2 work on every path."""
from __future__ import annotations

import pytest

from identity.domain import commands, errors, rules
from identity.entrypoints.api import bp
from identity.service_layer import handlers
from portal_common.testing import caller_headers, unsealed
from portal_common.web import service_app

PASSWORD = "Kezdo-Jelszo-2026"
WRONG = "wrong-password-123"


@pytest.fixture
def api(world):
    """The real blueprint over the fakes of ``world`` (no database)."""
    app = service_app("identity", checks={}, import_name=__name__)
    app.extensions["identity"] = world.wiring
    app.register_blueprint(bp)
    client = app.test_client()

    def login(username, password, ip="192.0.2.10"):
        response = client.post("/internal/sessions", json={"username": username, "password": password},
                               headers={"X-Service-Token": caller_headers()["X-Service-Token"], "X-Client-IP": ip})
        return response.status_code, response.get_json()

    return login


def four_wrong(login, username):
    return [login(username, WRONG) for _ in range(4)]


def test_unknown_and_known_usernames_answer_identically_for_four_wrong_passwords(world, api):
    world.active_account()
    known = four_wrong(api, "minta.anna")
    unknown = four_wrong(api, "nincs.ilyen")
    locked = {"error": "locked", "locked_until": handlers.iso(world.clock.now() + world.settings.lockout),
              "lockout_threshold": 3, "lockout_hours": 24}  # what the locked page says, from identity
    assert known == unknown == [(401, {"error": "invalid_credentials"}), (401, {"error": "invalid_credentials"}),
                                (423, locked), (423, locked)]


@pytest.mark.parametrize("kind", ["pending", "closed"])
def test_a_pending_or_closed_account_answers_like_an_unknown_one(world, api, kind):
    if kind == "pending":
        world.handle(handlers.register, commands.Register(world.anna, "anna@example.com", "+36301234567", "minta.anna",
                                                          "hu", "10.0.0.1", accept_declaration=True))
    else:
        account = world.active_account()
        world.handle(handlers.close_account, commands.CloseAccount(account.account_id, PASSWORD))
    assert four_wrong(api, "minta.anna") == four_wrong(api, "nincs.ilyen")


def test_an_unknown_username_is_counted_case_insensitively_and_its_lock_ends_after_24_hours(world):
    def login(username):
        try:
            world.handle(handlers.login, commands.Login(username, WRONG))
        except errors.InvalidCredentials:
            return 401
        except errors.Locked:
            return 423

    assert [login("Senki"), login("SENKI "), login("senki"), login("senki")] == [401, 401, 423, 423]
    assert login("valaki.mas") == 401  # counted per name
    world.clock.advance(hours=23, minutes=59)
    assert login("senki") == 423
    world.clock.advance(minutes=1)
    assert [login("senki"), login("senki"), login("senki")] == [401, 401, 423]  # a new series, as for an account
    assert world.events("account.locked") == []  # nobody to tell


def test_the_threshold_and_duration_apply_to_unknown_usernames_too(world):
    from dataclasses import replace
    from datetime import timedelta

    world.wiring.settings = replace(world.settings, lockout_threshold=5, lockout_hours=1)
    for _ in range(4):
        with pytest.raises(errors.InvalidCredentials):
            world.handle(handlers.login, commands.Login("senki", WRONG))
    with pytest.raises(errors.Locked) as locked:
        world.handle(handlers.login, commands.Login("senki", WRONG))
    assert locked.value.locked_until == world.clock.now() + timedelta(hours=1)


# ---------------------------------------------------------------------------------------------- equal work
def cost(world, username, password):
    world.hasher.verifications = 0
    try:
        world.handle(handlers.login, commands.Login(username, password))
    except (errors.InvalidCredentials, errors.Locked):
        pass
    return world.hasher.verifications


def test_every_login_path_costs_one_verification(world):
    account = world.active_account()
    world.active_account(username="teszt.bela", ident=world.bela, email="bela@example.com", mobile="+36201112222")
    world.handle(handlers.request_recovery, commands.RequestRecovery("bela@example.com", "+36201112222"))
    otp = unsealed(world.events("account.credentials_reset")[-1], "one_time_password")
    paths = {
        "unknown": cost(world, "nincs.ilyen", WRONG),
        "wrong password": cost(world, "minta.anna", WRONG),
        "right password": cost(world, "minta.anna", PASSWORD),
        "wrong, with a pending one-time password": cost(world, "teszt.bela", WRONG),
        "the one-time password": cost(world, "teszt.bela", otp),
        "the used one-time password": cost(world, "teszt.bela", otp),
    }
    for _ in range(3):
        cost(world, "minta.anna", WRONG)
    paths["locked"] = cost(world, "minta.anna", PASSWORD)
    assert account.is_locked(world.clock.now())
    assert paths == {path: 1 for path in paths}  # the one-time password is compared by its SHA-256


def test_an_unknown_username_is_stored_only_as_its_keyed_hash(world):
    from dataclasses import replace

    with pytest.raises(errors.InvalidCredentials):
        world.handle(handlers.login, commands.Login("Jelszo-A-Rossz-Mezoben", WRONG))
    [stored] = world.repo.unknown_logins
    assert "jelszo" not in stored.lower()
    assert stored == rules.username_hash(world.settings.username_hash_key, "jelszo-a-rossz-mezoben")
    # another key, another hash: without the key a list of guesses cannot be checked against the table
    other = replace(world.settings, username_hash_key="another-key")
    assert rules.username_hash(other.username_hash_key, "jelszo-a-rossz-mezoben") != stored


def test_a_locked_known_and_a_locked_unknown_name_do_the_same_writes(world):
    """No timing difference from the database either: while locked, nothing is written for either."""
    from identity.service_layer.unit_of_work import FakeUnitOfWork

    world.active_account()
    for name in ("minta.anna", "nincs.ilyen"):
        for _ in range(3):
            cost(world, name, WRONG)
    writes = {}
    for name in ("minta.anna", "nincs.ilyen"):
        counted = []
        world.wiring.uow_factory = lambda: counted.append(FakeUnitOfWork(world.repo, world.published)) or counted[-1]
        cost(world, name, PASSWORD)
        writes[name] = sum(uow.commits for uow in counted)
    assert writes["minta.anna"] == writes["nincs.ilyen"] == 1  # only the client's attempt
