"""The internal API over the real migrations on SQLite (the embedded run's database)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from notify.adapters.repository import SqlStore
from notify.domain.model import EMAIL, SMS, Delivery
from notify.entrypoints.api import create_app
from portal_common.testing import caller_headers, migrate

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
TOKEN = caller_headers()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # The tests only read: one migrated database for the module keeps them fast.
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PORTAL_GATEWAY_TOKEN_SHA256", raising=False)
        yield _app(tmp_path_factory.mktemp("notify"))


def _app(tmp_path):
    url = f"sqlite:///{tmp_path / 'notify.db'}"
    migrate(ALEMBIC_INI, url)
    app = create_app(url)
    store = SqlStore(app.extensions["notify"].session_factory)
    with store.transaction() as repo:
        for i, (channel, to, template) in enumerate([
                (EMAIL, "anna@example.org", "activation"), (SMS, "+36301234567", "initial_password"),
                (EMAIL, "bela@example.org", "account_locked"), (EMAIL, "Anna@Example.org", "password_changed")]):
            repo.add_delivery(Delivery(cause_event_id=f"m-{i}", cause_event="x", template=template, channel=channel,
                                       to=to.lower() if channel == EMAIL else to, language="hu",
                                       payload={"initial_password": "Init-PW-Zq8vX3kT"},
                                       created_at=T0 + timedelta(minutes=i), next_attempt_at=T0))
    return app


def test_lists_deliveries_for_a_recipient_newest_first_without_texts(app):
    r = app.test_client().get("/internal/deliveries?to=ANNA@example.org", headers=TOKEN)
    assert r.status_code == 200
    rows = r.get_json()["deliveries"]
    assert [d["template"] for d in rows] == ["password_changed", "activation"]
    assert set(rows[0]) >= {"id", "channel", "template", "to", "status", "attempts", "created_at", "sent_at", "reason"}
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 0 and rows[0]["sent_at"] is None
    assert "Init-PW" not in r.get_data(as_text=True)


def test_phone_filter_takes_the_e164_number(app):
    r = app.test_client().get("/internal/deliveries", query_string={"to": " +36301234567 "}, headers=TOKEN)
    assert [d["template"] for d in r.get_json()["deliveries"]] == ["initial_password"]


def test_limit_and_validation(app):
    client = app.test_client()
    assert len(client.get("/internal/deliveries?limit=2", headers=TOKEN).get_json()["deliveries"]) == 2
    bad = client.get("/internal/deliveries?limit=0", headers=TOKEN)
    assert bad.status_code == 422 and bad.get_json()["error"] == "invalid"


def test_requires_the_service_token(app):
    assert app.test_client().get("/internal/deliveries").status_code == 401
    assert app.test_client().get("/healthz").status_code == 200
