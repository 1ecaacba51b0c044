"""Concurrency on real PostgreSQL: wrong passwords (known and unknown usernames) counted atomically and locked
exactly once; a one-time password used once; a declaration withdrawn once."""
from __future__ import annotations

import json
import threading
import time
from datetime import date

import pytest
from portal_common.testing import unsealed
from sqlalchemy import text

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import PasswordHasher, fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.bootstrap import bootstrap
from identity.domain import commands, errors, rules
from identity.service_layer import handlers
from identity.settings import Settings

pytestmark = pytest.mark.database

PAL = commands.Identification("KGFB-7", "Párhuzamos Pál", "Párhuzamos Pál", date(1980, 5, 6), "Győr",
                              "Egyidejű Emese")
ORSI = commands.Identification("HOME-8", "Sorban Orsolya", "Sorban Orsolya", date(1982, 6, 7), "Eger",
                               "Egymás Után Ilona")


NO_CLIENT_LIMIT = Settings(login_max_failures_per_client=10_000)


@pytest.fixture
def wiring(database_url):
    directory = FakePolicyDirectory([(PAL, Policyholder("C-7", None, None, True)),
                                     (ORSI, Policyholder("C-8", None, None, True))])
    # every test here logs in from one client: the per-client limit (tested in test_throttle_concurrency) stays out
    w = bootstrap(database_url, directory=directory, clock=FakeClock(), hasher=fast_argon2(), settings=NO_CLIENT_LIMIT)
    yield w
    w.engine.dispose()


def outbox(wiring, event, account_id):
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = :e"), {"e": event})
        return [p for p in (json.loads(r.payload) for r in rows) if p["account_id"] == account_id]


def active_account(wiring, ident, username):
    account = wiring.handle(handlers.register, commands.Register(ident, f"{username}@example.com", "+36301112233",
                                                                 username, "hu", "10.0.0.7",
                                                                 accept_declaration=True))
    [requested] = outbox(wiring, "account.activation_requested", account.account_id)
    wiring.handle(handlers.activate, commands.Activate(unsealed(requested, "activation_url").rsplit("/", 1)[1]))
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
    [activated] = outbox(wiring, "account.initial_password_issued", account.account_id)
    assert [login(wiring, "sorban.orsi") for _ in range(4)] == ["401", "401", "423", "423"]
    assert login(wiring, "sorban.orsi", unsealed(activated, "initial_password")) == "423"
    wiring.clock.advance(hours=24)
    assert login(wiring, "sorban.orsi") == "401"
    assert failed_attempts(wiring, account.account_id) == 1  # the 1st of a new series, not the 4th
    assert len(outbox(wiring, "account.locked", account.account_id)) == 1
    assert login(wiring, "sorban.orsi", unsealed(activated, "initial_password")) == "201"
    assert failed_attempts(wiring, account.account_id) == 0


# ------------------------------------------------------------------------------- one-time password: single use
OTTO = commands.Identification("KGFB-9", "Egyszer Ottó", "Egyszer Ottó", date(1975, 8, 9), "Sopron", "Csak Cecília")
UNA = commands.Identification("HOME-11", "Visszavon Una", "Visszavon Una", date(1979, 2, 3), "Vác", "Egy Eszter")


class SlowVerify(PasswordHasher):
    """argon2 whose verification takes a while: two logins surely overlap between reading the account and
    committing (the window in which a one-time password could be used twice)."""

    def __init__(self, inner: PasswordHasher, delay: float = 0.3):
        self.inner, self.delay = inner, delay

    def hash(self, password):
        return self.inner.hash(password)

    def verify(self, stored_hash, password):
        ok = self.inner.verify(stored_hash, password)
        time.sleep(self.delay)
        return ok

    def needs_rehash(self, stored_hash):
        return self.inner.needs_rehash(stored_hash)


def session_count(wiring, account_id):
    with wiring.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM login_sessions WHERE account_id = :a"),
                            {"a": account_id}).scalar_one()


def test_two_simultaneous_logins_with_the_same_one_time_password_make_exactly_one_session(database_url):
    directory = FakePolicyDirectory([(OTTO, Policyholder("C-9", None, None, True))])
    wiring = bootstrap(database_url, directory=directory, clock=FakeClock(), hasher=SlowVerify(fast_argon2()),
                       settings=NO_CLIENT_LIMIT)
    try:
        account = active_account(wiring, OTTO, "egyszer.otto")
        wiring.handle(handlers.request_recovery, commands.RequestRecovery("egyszer.otto@example.com", "+36301112233"))
        [reset] = outbox(wiring, "account.credentials_reset", account.account_id)
        outcomes, barrier = [], threading.Barrier(2)

        def attempt():
            barrier.wait()
            outcomes.append(login(wiring, "egyszer.otto", unsealed(reset, "one_time_password")))

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["201", "401"]
        assert session_count(wiring, account.account_id) == 1
    finally:
        wiring.engine.dispose()


# ---------------------------------------------------------------------------------------- unknown usernames
def test_ten_simultaneous_wrong_passwords_for_an_unknown_username_lock_it_exactly_once(wiring):
    outcomes, barrier = [], threading.Barrier(10)

    def attempt():
        barrier.wait()
        outcomes.append(login(wiring, "Senki.Sem"))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["401"] * 2 + ["423"] * 8  # exactly like a real account
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT name_hash, failed_attempts FROM unknown_login_failures")).all()
    [row] = [r for r in rows if r.name_hash == rules.username_hash(wiring.settings.username_hash_key, "senki.sem")]
    assert row.failed_attempts == 3
    assert not any("senki" in r.name_hash for r in rows)  # only the keyed hash is stored
    wiring.clock.advance(hours=24)
    assert [login(wiring, "senki.sem") for _ in range(3)] == ["401", "401", "423"]  # a new series


# -------------------------------------------------------------------------------- withdrawal: one event
def test_simultaneous_withdrawals_publish_one_event(wiring):
    wiring.directory.add(UNA, Policyholder("C-11", None, None, False))
    declaration = wiring.handle(handlers.declare, commands.Declare(UNA, "una@example.com", "hu", "10.0.0.11"))
    results, barrier = [], threading.Barrier(5)

    def attempt():
        barrier.wait()
        try:
            wiring.handle(handlers.withdraw_identified_declaration,
                          commands.WithdrawIdentifiedDeclaration(UNA, "10.0.0.11"))
            results.append("200")
        except errors.NoDeclaration:
            results.append("404")

    threads = [threading.Thread(target=attempt) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["200"] + ["404"] * 4
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = 'customer.declaration_withdrawn'"))
        mine = [p for p in map(json.loads, rows.scalars()) if p["declaration_id"] == declaration.declaration_id]
    assert len(mine) == 1
