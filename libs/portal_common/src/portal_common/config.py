"""Configuration from ``PORTAL_*`` environment variables.

Safe defaults make the embedded run (``make run``) work with nothing set. With ``PORTAL_ENV=production`` a setting
marked ``production_required`` must be given explicitly, otherwise the process stops at start with a message that
names the variable (fail fast rather than run against a demo default).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def is_production() -> bool:
    return os.environ.get("PORTAL_ENV", "development").strip().lower() == "production"


def env(name: str, default: str | None = None, *, production_required: bool = False) -> str | None:
    """Read ``name`` from the environment.

    >>> env("PORTAL_HTTP_PORT", "8000")
    '8000'
    """
    value = os.environ.get(name)
    if value is not None and value.strip() != "":
        return value.strip()
    if production_required and is_production():
        raise ConfigError(f"{name} must be set when PORTAL_ENV=production (see the configuration table in README.md)")
    return default


def env_int(name: str, default: int) -> int:
    raw = env(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def var_dir() -> Path:
    """Where the embedded run keeps its data (SQLite files, the file bus, captured mail and SMS)."""
    path = Path(env("PORTAL_VAR_DIR", str(REPO_ROOT / "var")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def contracts_dir() -> Path:
    return Path(env("PORTAL_CONTRACTS_DIR", str(REPO_ROOT / "contracts")))


def database_url(service: str) -> str:
    """``PORTAL_<SERVICE>_DATABASE_URL``; SQLite under ``var/`` when not set (embedded run only)."""
    name = f"PORTAL_{service.upper()}_DATABASE_URL"
    return env(name, None, production_required=True) or f"sqlite:///{var_dir() / (service + '.db')}"


def amqp_url() -> str | None:
    """RabbitMQ when ``PORTAL_AMQP_URL`` is set; ``None`` means the embedded file transport."""
    return env("PORTAL_AMQP_URL", None, production_required=True)


def service_token() -> str:
    """Shared credential that internal APIs require in ``X-Service-Token``."""
    return env("PORTAL_SERVICE_TOKEN", "dev-service-token", production_required=True)
