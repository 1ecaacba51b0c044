"""Housekeeping on real PostgreSQL with a controllable clock: published outbox rows and old message ids go, what is
still owed (unpublished rows) or still guarding duplicates (recent ids) stays."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import MetaData, select

from portal_common.db import make_session_factory, plumbing_tables
from portal_common.housekeeping import Housekeeper, plumbing_rules
from portal_common.testing import temp_postgres_tables

pytestmark = pytest.mark.database

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
metadata = MetaData()
outbox, processed = plumbing_tables(metadata)


@pytest.fixture
def factory():
    with temp_postgres_tables("housekeeping", metadata) as engine:
        yield make_session_factory(engine)


def outbox_row(event_id, occurred, published):
    return dict(event_id=event_id, event="thing.happened", version=1, payload="{}", occurred_at=occurred,
                published_at=published, attempts=0, next_attempt_at=occurred)


def ids(factory, column):
    with factory() as s:
        return sorted(s.scalars(select(column)))


def test_published_rows_and_old_message_ids_are_deleted_the_rest_kept(factory):
    with factory() as s, s.begin():
        s.execute(outbox.insert(), [
            outbox_row("published-long-ago", NOW - timedelta(days=30), NOW - timedelta(days=8)),
            outbox_row("published-yesterday", NOW - timedelta(days=1), NOW - timedelta(days=1)),
            outbox_row("never-published", NOW - timedelta(days=60), None),
        ])
        s.execute(processed.insert(), [
            dict(message_id="seen-15-days-ago", event="e", processed_at=NOW - timedelta(days=15)),
            dict(message_id="seen-2-days-ago", event="e", processed_at=NOW - timedelta(days=2)),
        ])
    keeper = Housekeeper("test", factory, plumbing_rules(), clock=lambda: NOW, batch_size=1)
    assert keeper.run_once() == {"outbox": 1, "processed_messages": 1}
    assert ids(factory, outbox.c.event_id) == ["never-published", "published-yesterday"]
    assert ids(factory, processed.c.message_id) == ["seen-2-days-ago"]
    assert keeper.run_once() == {"outbox": 0, "processed_messages": 0}


def test_retention_is_configurable_and_batches_cover_everything(factory, monkeypatch):
    monkeypatch.setenv("PORTAL_PROCESSED_RETENTION_DAYS", "3")
    with factory() as s, s.begin():
        s.execute(processed.insert(), [dict(message_id=f"m{i}", event="e", processed_at=NOW - timedelta(days=i))
                                       for i in range(10)])
    keeper = Housekeeper("test", factory, plumbing_rules(), clock=lambda: NOW, batch_size=2)
    assert keeper.run_once()["processed_messages"] == 6  # 4..9 days old, in batches of two
    assert ids(factory, processed.c.message_id) == ["m0", "m1", "m2", "m3"]


def test_message_ids_must_be_kept_longer_than_the_retry_horizon(monkeypatch):
    from portal_common.config import ConfigError

    monkeypatch.setenv("PORTAL_PROCESSED_RETENTION_DAYS", "2")
    monkeypatch.setenv("PORTAL_RETRY_HORIZON_HOURS", "72")
    with pytest.raises(ConfigError, match=r"PORTAL_PROCESSED_RETENTION_DAYS \(2\) must be longer than the retry "
                                          r"horizon PORTAL_RETRY_HORIZON_HOURS \(72 h\)"):
        plumbing_rules()
