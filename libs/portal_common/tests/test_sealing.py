"""Secrets sealed by identity open only in notify, only for their account, through a key rotation."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal_common import sealing
from portal_common.config import ConfigError
from portal_common.db import make_engine
from portal_common.sealing import Sealer, SealError

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_sealed_secret_opens_for_its_account_only_and_shows_nothing_in_clear():
    sealer = Sealer([("k1", OLD)])
    sealed = sealer.seal("Init-PW-Zq8vX3kT", "acc-1")
    assert sealed.startswith("k1:") and "Init-PW" not in sealed
    assert sealer.open(sealed, "acc-1") == "Init-PW-Zq8vX3kT"
    with pytest.raises(SealError, match="another account"):
        sealer.open(sealed, "acc-2")
    assert sealer.seal("same", "acc-1") != sealer.seal("same", "acc-1")  # a fresh IV every time


@pytest.mark.parametrize("mangle", [
    lambda s: s[:-5] + ("A" if s[-5] != "A" else "B") + s[-4:],  # one character of the token changed
    lambda s: "k7:" + s.split(":", 1)[1],  # an unknown key id
    lambda s: s.split(":", 1)[1],  # no key id
    lambda s: "",
])
def test_a_tampered_or_unknown_value_does_not_open(mangle):
    sealer = Sealer([("k1", OLD)])
    with pytest.raises(SealError):
        sealer.open(mangle(sealer.seal("secret-value", "acc-1")), "acc-1")


def test_rotation_the_new_key_seals_and_the_old_still_opens_what_is_in_flight():
    before = Sealer([("k1", OLD)]).seal("in flight", "acc-1")
    rotated = Sealer([("k2", NEW), ("k1", OLD)])
    after = rotated.seal("new one", "acc-1")
    assert after.startswith("k2:")
    assert rotated.open(before, "acc-1") == "in flight" and rotated.open(after, "acc-1") == "new one"
    with pytest.raises(SealError, match="unknown key id"):
        Sealer([("k1", OLD)]).open(after, "acc-1")  # a notify without the new key cannot: add it there first


@pytest.mark.parametrize("raw", ["k1", "k1:not-a-key", f"bad id!:{OLD}", f"k1:{OLD},k2"])
def test_malformed_keys_stop_the_start_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("PORTAL_SEALING_KEYS", raw)
    with pytest.raises(ConfigError, match="PORTAL_SEALING_KEYS"):
        Sealer.from_env()


def test_production_needs_its_own_keys(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("PORTAL_SEALING_KEYS", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_SEALING_KEYS must be set"):
        Sealer.from_env()
    monkeypatch.setenv("PORTAL_SEALING_KEYS", f"k2:{NEW},{sealing.DEV_KEYS}")
    with pytest.raises(ConfigError, match="published development key"):
        Sealer.from_env()
    monkeypatch.setenv("PORTAL_SEALING_KEYS", f"k2:{NEW},k1:{OLD}")
    assert Sealer.from_env().kid == "k2"


def test_database_errors_never_quote_the_statement_parameters(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, secret TEXT)"))
        conn.execute(text("INSERT INTO t VALUES (1, 'first')"))
    with pytest.raises(SQLAlchemyError) as caught, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (:id, :secret)"), {"id": 1, "secret": "OTP-7hQ2mW9pLr"})
    assert "OTP-7hQ2mW9pLr" not in str(caught.value) and "hidden due to hide_parameters" in str(caught.value)
