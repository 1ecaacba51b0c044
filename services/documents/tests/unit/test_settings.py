"""Production refuses to start on the embedded run's S3 defaults (a local moto server, demo keys)."""
from __future__ import annotations

import pytest

from documents.settings import Settings
from portal_common.config import ConfigError


@pytest.mark.parametrize("missing", ["PORTAL_S3_ENDPOINT_URL", "PORTAL_S3_ACCESS_KEY_ID", "PORTAL_S3_SECRET_ACCESS_KEY"])
def test_production_needs_every_s3_setting(monkeypatch, missing):
    monkeypatch.setenv("PORTAL_ENV", "production")
    for name in ("PORTAL_S3_ENDPOINT_URL", "PORTAL_S3_ACCESS_KEY_ID", "PORTAL_S3_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "https://s3.eu-central-1.amazonaws.com" if name.endswith("URL") else "x")
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env()


def test_development_uses_the_local_s3_server(monkeypatch):
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    monkeypatch.delenv("PORTAL_S3_ENDPOINT_URL", raising=False)
    assert Settings.from_env().s3_endpoint_url == "http://127.0.0.1:9000"
