"""The development stack runs identity on SQLite: the migrations and the dialect-specific statements (the upsert of
unknown usernames' failed logins, the replacement of an expired pending account) work there too. No server needed."""
from __future__ import annotations

from datetime import date

import pytest

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.bootstrap import bootstrap
from identity.domain import commands, errors
from identity.service_layer import handlers
from portal_common.testing import migrate

from .conftest import ALEMBIC_INI

SARA = commands.Identification("KGFB-12", "Szilárd Sára", "Szilárd Sára", date(1988, 4, 5), "Szolnok", "Lite Lilla")


@pytest.fixture
def wiring(tmp_path):
    url = f"sqlite:///{tmp_path / 'identity.db'}"
    migrate(ALEMBIC_INI, url)
    w = bootstrap(url, directory=FakePolicyDirectory([(SARA, Policyholder("C-12", None, None, True))]),
                  clock=FakeClock(), hasher=fast_argon2())
    yield w
    w.engine.dispose()


def outcome(wiring, username, password="wrong-password-1", ip="10.0.0.12"):
    try:
        wiring.handle(handlers.login, commands.Login(username, password, client_ip=ip))
        return 201
    except errors.InvalidCredentials:
        return 401
    except errors.Locked as locked:
        return 423, locked.locked_until


def test_unknown_usernames_lock_on_sqlite_too(wiring):
    results = [outcome(wiring, "Senki") for _ in range(4)]
    locked_until = wiring.clock.now() + wiring.settings.lockout
    assert results == [401, 401, (423, locked_until), (423, locked_until)]
    wiring.clock.advance(hours=24)
    assert outcome(wiring, "senki") == 401


def test_an_expired_pending_account_is_replaced_on_sqlite_too(wiring):
    register = commands.Register(SARA, "sara@exmaple.com", "+36301234567", "szilard.sara", "hu", "10.0.0.12",
                                 accept_declaration=True)
    first = wiring.handle(handlers.register, register)
    with pytest.raises(errors.ActivationPending):
        wiring.handle(handlers.register, register)
    wiring.clock.advance(hours=24)
    second = wiring.handle(handlers.register, register)  # the same username
    assert wiring.handle(handlers.get_account, first.account_id).status == "expired"
    assert wiring.handle(handlers.get_account, second.account_id).status == "pending_activation"


def test_client_limits_on_sqlite_too(wiring):
    for _ in range(5):
        wiring.handle(handlers.resend_activation, commands.ResendActivation("x@example.com", client_ip="10.0.0.13"))
    with pytest.raises(errors.Throttled):
        wiring.handle(handlers.request_recovery, commands.RequestRecovery("x@example.com", "+36301234567",
                                                                          client_ip="10.0.0.13"))


def test_a_logout_on_sqlite_says_which_account_ended_a_session_once(wiring):
    """The session's row is deleted with ``DELETE … RETURNING`` (SQLite 3.35+) to learn whose it was."""
    import json

    from sqlalchemy import text

    account = wiring.handle(handlers.register, commands.Register(SARA, "sara@example.com", "+36301234567",
                                                                 "szilard.sara", "hu", "10.0.0.12",
                                                                 accept_declaration=True))
    with wiring.engine.begin() as conn:
        conn.execute(text("UPDATE accounts SET status = 'active' WHERE account_id = :a"), {"a": account.account_id})
    with wiring.session_factory() as session, session.begin():
        from identity.domain import model

        session.add(model.LoginSession(session_hash=handlers.sha256("sid-1"), account_id=account.account_id,
                                       created_at=wiring.clock.now(), last_seen_at=wiring.clock.now()))
    for _ in range(2):
        wiring.handle(handlers.logout, commands.Logout("sid-1"))
    with wiring.engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM outbox WHERE event = 'account.sessions_ended'")).scalars().all()
    assert [json.loads(r) for r in rows] == [{"account_id": account.account_id, "customer_id": "C-12",
                                              "reason": "logout", "ended_at": wiring.clock.now().isoformat()}]
