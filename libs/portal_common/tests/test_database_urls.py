"""Database URLs as operators write them: ``postgresql://`` works, an unsupported scheme fails with a clear message."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect

from portal_common import testing
from portal_common.config import REPO_ROOT, ConfigError
from portal_common.db import engine_url, make_engine


@pytest.mark.parametrize("url, expected", [
    ("postgresql://u:p@db:5432/identity", "postgresql+psycopg2://u:p@db:5432/identity"),
    ("postgres://u:p@db/identity", "postgresql+psycopg2://u:p@db/identity"),
    ("postgresql+psycopg2://u:p@db/identity", "postgresql+psycopg2://u:p@db/identity"),
    ("sqlite:///var/identity.db", "sqlite:///var/identity.db"),
])
def test_supported_schemes_map_to_installed_drivers(url, expected):
    assert engine_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u:secret@db/identity", "postgresql+psycopg://u:secret@db/identity",
                                 "postgresql+asyncpg://u:secret@db/x"])
def test_unsupported_scheme_is_named_without_the_password(url):
    with pytest.raises(ConfigError) as excinfo:
        make_engine(url)
    message = str(excinfo.value)
    assert repr(url.split("://")[0]) in message and "postgresql://" in message
    assert "secret" not in message


def test_url_without_scheme_is_refused():
    with pytest.raises(ConfigError, match="postgresql://user:password@host"):
        engine_url("db.example.internal/identity")


@pytest.mark.database
def test_migration_with_a_plain_postgresql_url(tmp_path):
    """What `make run` does with PORTAL_IDENTITY_DATABASE_URL=postgresql://…: alembic upgrade head, then the service
    reads its tables (issue 11: this stopped at the first migration with "No module named 'psycopg'")."""
    with testing.temp_postgres_database("plainurl") as url:
        plain = "postgresql://" + url.split("://", 1)[1]
        env = {k: v for k, v in os.environ.items() if k != "ALEMBIC_DATABASE_URL"}
        env.update(PORTAL_IDENTITY_DATABASE_URL=plain, PORTAL_VAR_DIR=str(tmp_path))
        done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "services/identity/alembic.ini"),
                               "upgrade", "head"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        engine = make_engine(plain)
        try:
            assert {"outbox", "processed_messages", "alembic_version"} <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()


def test_migration_with_an_unsupported_scheme_stops_with_the_reason(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ALEMBIC_DATABASE_URL"}
    env.update(PORTAL_IDENTITY_DATABASE_URL="mysql://u:secret@127.0.0.1/identity", PORTAL_VAR_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "services/identity/alembic.ini"),
                           "upgrade", "head"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "unsupported database URL scheme 'mysql'" in done.stderr
    assert "secret" not in done.stderr
