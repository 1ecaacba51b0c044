"""Configuration: demo defaults in development, fail fast naming the variable in production."""
from __future__ import annotations

import re

import pytest

from portal_common import callers, config
from portal_common.config import ConfigError

PRODUCTION_REQUIRED = ("PORTAL_AMQP_URL", "PORTAL_GATEWAY_TOKEN", "PORTAL_POLICIES_DATABASE_URL")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (*PRODUCTION_REQUIRED, "PORTAL_ENV", "PORTAL_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_production_without_the_broker_url_fails_naming_the_variable(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    with pytest.raises(ConfigError, match="PORTAL_AMQP_URL"):
        config.amqp_url()


@pytest.mark.parametrize("call,variable", [
    (lambda: callers.own_token("gateway"), "PORTAL_GATEWAY_TOKEN"),
    (lambda: config.database_url("policies"), "PORTAL_POLICIES_DATABASE_URL"),
])
def test_production_without_other_required_settings_fails_naming_them(clean_env, call, variable):
    clean_env.setenv("PORTAL_ENV", " Production ")
    with pytest.raises(ConfigError) as caught:
        call()
    assert variable in str(caught.value) and "PORTAL_ENV=production" in str(caught.value)


def test_a_blank_value_counts_as_missing_in_production(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("PORTAL_AMQP_URL", "   ")
    with pytest.raises(ConfigError, match="PORTAL_AMQP_URL"):
        config.amqp_url()


def test_production_uses_what_is_given(clean_env):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("PORTAL_AMQP_URL", " amqp://portal:Vn3q-r8Ww@rabbit:5672/portal ")
    clean_env.setenv("PORTAL_POLICIES_DATABASE_URL", "postgresql+psycopg2://policies@db/policies")
    assert config.amqp_url() == "amqp://portal:Vn3q-r8Ww@rabbit:5672/portal"
    assert config.database_url("policies") == "postgresql+psycopg2://policies@db/policies"


def test_development_defaults_need_nothing_set(clean_env, tmp_path):
    assert config.is_production() is False
    assert config.amqp_url() is None  # the embedded file bus
    assert callers.own_token("gateway") == "dev-gateway-token"
    assert config.database_url("policies") == f"sqlite:///{tmp_path / 'var' / 'policies.db'}"
    assert (tmp_path / "var").is_dir()
    assert config.env_int("PORTAL_HTTP_PORT", 8000) == 8000


def test_a_malformed_integer_names_the_variable(clean_env):
    clean_env.setenv("PORTAL_HTTP_PORT", "80a0")
    with pytest.raises(ConfigError, match="PORTAL_HTTP_PORT must be an integer"):
        config.env_int("PORTAL_HTTP_PORT", 8000)


@pytest.mark.parametrize("variable,value", [
    ("PORTAL_POLICIES_DATABASE_URL", "postgresql+psycopg2://policies:portal@db/policies"),
    ("PORTAL_POLICIES_DATABASE_URL", "postgresql+psycopg2://postgres:postgres@db/policies"),
    ("PORTAL_POLICIES_DATABASE_URL", "postgresql+psycopg2://policies:changeme@db/policies"),
    ("PORTAL_POLICIES_DATABASE_URL", "postgresql+psycopg2://policies:portal-demo-db@db/policies"),
    ("PORTAL_AMQP_URL", "amqp://guest:guest@rabbit:5672/"),
    ("PORTAL_AMQP_URL", "amqps://portal:CHANGE-ME@rabbit:5671/%2F"),
])
def test_production_refuses_a_published_demo_password_without_echoing_it(clean_env, variable, value):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable) as caught:
        config.amqp_url() if variable == "PORTAL_AMQP_URL" else config.database_url("policies")
    assert value.split("//")[1].split("@")[0].split(":")[1] not in str(caught.value)


@pytest.mark.parametrize("value", ["dev-only-secret-key-change-me",
                                   "demo-secret-key-change-me-in-production-0123456789", "x" * 31])
def test_production_refuses_a_demo_or_short_secret(clean_env, value):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("PORTAL_SECRET_KEY", value)
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY"):
        config.env("PORTAL_SECRET_KEY", secret=True)


@pytest.mark.parametrize("value", [
    "Zr8kQdemoxV3pL0aT9yWc2NfH6uJbE1sM4gK7rYpA5w",  # 43 characters of token_urlsafe(32) with "demo" inside a word
    "mK2exampleQ9vT4wZr8kP1cX6nB3yL0aT9yWc2NfH6u",
    "aB3PLACEHOLDERz9vT4wZr8kP1cX6nB3yL0aT9yWc2N",
])
def test_production_takes_a_random_secret_that_happens_to_hold_a_placeholder_word(clean_env, value):
    clean_env.setenv("PORTAL_ENV", "production")
    clean_env.setenv("PORTAL_SECRET_KEY", value)
    assert config.env("PORTAL_SECRET_KEY", secret=True) == value
    clean_env.setenv("PORTAL_AMQP_URL", f"amqp://portal-notify:{value}@rabbit:5672/%2F")
    assert config.amqp_url() == f"amqp://portal-notify:{value}@rabbit:5672/%2F"


@pytest.mark.parametrize("value", ["demo", "my-demo-password-0123456789abcdefghij", "CHANGE_ME", "demo123",
                                   "https://sms.example.com/send", "<placeholder>", "dev-only-key"])
def test_a_placeholder_word_is_still_a_demo_value(value):
    assert config.looks_like_demo(value)


def test_demo_values_are_fine_outside_production(clean_env):
    clean_env.setenv("PORTAL_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    assert config.amqp_url() == "amqp://guest:guest@127.0.0.1:5672/"


@pytest.mark.parametrize("value, host", [
    ("https://portal.example.com", "portal.example.com"),
    ("https://sms-gateway.example.com/send", "sms-gateway.example.com"),
    ("http://portal.example/", "portal.example"),
    ("https://x.invalid", "x.invalid"),
    ("Ügyfélportál <no-reply@portal.example.com>", "portal.example.com"),
])
def test_placeholder_hosts_are_refused_in_production(monkeypatch, value, host):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_X", value)
    with pytest.raises(config.ConfigError, match=f"PORTAL_X points at {re.escape(host)}, a placeholder"):
        config.env("PORTAL_X", real_host=True)
    monkeypatch.setenv("PORTAL_ENV", "development")
    assert config.env("PORTAL_X", real_host=True) == value  # make run and tests may use them


@pytest.mark.parametrize("value", ["https://portal.biztosito.hu", "https://s3.eu-central-1.amazonaws.com",
                                   "Portál <no-reply@biztosito.hu>", "https://examples.hu/send",
                                   "http://host.docker.internal:9025/sms"])
def test_real_hosts_pass(monkeypatch, value):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_X", value)
    assert config.env("PORTAL_X", real_host=True) == value
