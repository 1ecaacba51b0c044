"""Integration fixtures: a fresh PostgreSQL database per test module, migrated with identity's Alembic scripts."""
from __future__ import annotations

from pathlib import Path

import pytest

from portal_common.testing import migrate, temp_postgres_database

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


@pytest.fixture(scope="module")
def database_url():
    with temp_postgres_database("identity_test") as url:
        migrate(ALEMBIC_INI, url)
        yield url
