"""Configuration: production refuses to start on a demo default that would send customers to localhost."""
from __future__ import annotations

import pytest

from identity.settings import Settings
from portal_common.config import ConfigError


def test_production_without_the_public_url_stops_at_start_naming_it(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("PORTAL_PUBLIC_URL", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_PUBLIC_URL"):
        Settings.from_env()


def test_the_public_url_builds_the_activation_links(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.biztosito.hu/")
    monkeypatch.setenv("PORTAL_USERNAME_HASH_KEY", "k" * 32)
    assert Settings.from_env().public_url == "https://portal.biztosito.hu"


def test_a_placeholder_public_url_stops_production(monkeypatch):
    """The prod overlay's template value must not reach customers' activation links (issue 11)."""
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.example.com/")
    with pytest.raises(ConfigError, match="PORTAL_PUBLIC_URL points at portal.example.com, a placeholder"):
        Settings.from_env()


def test_production_without_the_username_hash_key_stops_at_start_naming_it(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.biztosito.hu/")
    monkeypatch.delenv("PORTAL_USERNAME_HASH_KEY", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_USERNAME_HASH_KEY"):
        Settings.from_env()


def test_the_username_hash_key_never_shows_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("PORTAL_USERNAME_HASH_KEY", "secret-hash-key-123")
    assert "secret-hash-key-123" not in repr(Settings.from_env())


def test_development_defaults_to_the_local_portal(monkeypatch):
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    monkeypatch.delenv("PORTAL_PUBLIC_URL", raising=False)
    assert Settings.from_env().public_url == "http://127.0.0.1:8000"
