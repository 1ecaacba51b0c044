"""Concurrent wrong passwords on real PostgreSQL: counted atomically, locked exactly once."""
from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from sqlalchemy import text

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.bootstrap import bootstrap
from identity.domain import commands, errors
from identity.service_layer import handlers

pytestmark = pytest.mark.database

PAL = commands.Identification("KGFB-7", "Párhuzamos Pál", "Párhuzamos Pál", date(1980, 5, 6), "Győr",
                              "Egyidejű Emese")
ORSI = commands.Identification("HOME-8", "Sorban Orsolya", "Sorban Orsolya", date(1982, 6, 7), "Eger",
                               "Egymás Után Ilona")


@pytest.fixture
def wiring(database_url):
    directory = FakePolicyDirectory([(PAL, Policyholder("C-7", None, None, True)),
                                     (ORSI, Policyholder("C-8", None, None, True))])
    w = bootstrap(database_url, directory=directory, clock=FakeClock(), hasher=fast_argon2())
    yield w
    w.engine.dispose()


def outbox(wiring, event, account_id):
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = :e"), {"e": event})
        return [p for p in (json.loads(r.payload) for r in rows) if p["account_id"] == account_id]


def active_account(wiring, ident, username):
    account = wiring.handle(handlers.register, commands.Register(ident, f"{username}@example.com", "+36301112233",
                                                                 username, "hu", "10.0.0.7"))
    [requested] = outbox(wiring, "account.activation_requested", account.account_id)
    wiring.handle(handlers.activate, commands.Activate(requested["activation_url"].rsplit("/", 1)[1]))
    return account


def login(wiring, username, password="definitely-wrong-1"):
    try:
        wiring.handle(handlers.login, commands.Login(username, password))
        return "201"
    except errors.InvalidCredentials:
        return "401"
    except errors.Locked:
        return "423"


def failed_attempts(wiring, account_id):
    with wiring.engine.connect() as conn:
        return conn.execute(text("SELECT failed_attempts FROM accounts WHERE account_id = :a"),
                            {"a": account_id}).scalar_one()


def test_ten_simultaneous_wrong_passwords_lock_exactly_once(wiring):
    account = active_account(wiring, PAL, "parhuzamos.pal")
    outcomes, barrier = [], threading.Barrier(10)

    def attempt():
        barrier.wait()
        outcomes.append(login(wiring, "parhuzamos.pal"))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(outcomes) == ["401"] * 2 + ["423"] * 8
    [locked] = outbox(wiring, "account.locked", account.account_id)
    assert locked["failed_attempts"] == 3
    stored = wiring.handle(handlers.get_account, account.account_id)
    assert stored.failed_attempts == 3 and stored.locked_until == wiring.clock.now() + wiring.settings.lockout


def test_after_the_lock_expires_the_count_restarts_and_the_right_password_works(wiring):
    account = active_account(wiring, ORSI, "sorban.orsi")
    [activated] = outbox(wiring, "account.activated", account.account_id)
    assert [login(wiring, "sorban.orsi") for _ in range(4)] == ["401", "401", "423", "423"]
    assert login(wiring, "sorban.orsi", activated["initial_password"]) == "423"
    wiring.clock.advance(hours=24)
    assert login(wiring, "sorban.orsi") == "401"
    assert failed_attempts(wiring, account.account_id) == 1  # the 1st of a new series, not the 4th
    assert len(outbox(wiring, "account.locked", account.account_id)) == 1
    assert login(wiring, "sorban.orsi", activated["initial_password"]) == "201"
    assert failed_attempts(wiring, account.account_id) == 0
