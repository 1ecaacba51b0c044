"""Integration fixtures: a fresh PostgreSQL database per test module, migrated with policies' Alembic scripts, and
the API app on it (Flask's test client)."""
from __future__ import annotations

from pathlib import Path

import pytest

from portal_common.testing import migrate, temp_postgres_database

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


@pytest.fixture(scope="module")
def database_url():
    with temp_postgres_database("policies_test") as url:
        migrate(ALEMBIC_INI, url)
        yield url


@pytest.fixture(scope="module")
def app(database_url):
    from policies.entrypoints.api import create_app

    app = create_app(database_url=database_url)
    yield app
    app.extensions["policies"].engine.dispose()
