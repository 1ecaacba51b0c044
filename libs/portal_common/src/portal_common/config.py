"""Configuration from ``PORTAL_*`` environment variables.

Safe defaults make the embedded run (``make run``) work with nothing set. With ``PORTAL_ENV=production`` a setting
marked ``production_required`` must be given explicitly, otherwise the process stops at start with a message that
names the variable (fail fast rather than run against a demo default).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[4]


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def is_production() -> bool:
    return os.environ.get("PORTAL_ENV", "development").strip().lower() == "production"


# Values published in this repository, its compose file, its templates or common tutorials. In production a secret
# (or the password inside a URL) that is one of these, or contains one of the markers, stops the process at start:
# a public demo value is no secret (issue 8; ASVS 13.3.1 / 14.x "no default credentials").
DEMO_VALUES = frozenset({
    "dev-service-token", "dev-only-secret-key-change-me", "dev-gateway-token", "dev-identity-token",
    "portal", "postgres", "changeme", "change-me", "guest", "password", "secret", "admin", "root", "test",
    "portal-secret", "minioadmin", "minio123", "rabbitmq", "notify", "identity", "documents", "policies",
})
DEMO_MARKERS = ("demo", "change-me", "changeme", "change_me", "placeholder", "dev-only", "dev-service", "example")
# A marker counts as a word of its own (no letter right before or after it: "demo-token", "CHANGE_ME", "demo123"):
# inside a random secret the letters "demo" turn up by chance (about one 43-character token_urlsafe in 26,000), and
# such a secret must not be refused; as a word they turn up about once in 600,000.
_DEMO_MARKER_WORD = re.compile("(?<![a-z])(?:" + "|".join(map(re.escape, DEMO_MARKERS)) + ")(?![a-z])")
MIN_SECRET_LENGTH = 32
# Names reserved for documentation (RFC 2606, RFC 6761): a URL or an e-mail address there is a template value that
# never reaches a real system, like the prod overlay's https://portal.example.com (issue 11).
RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "example", "invalid", "test")


def placeholder_host(value: str) -> str | None:
    """The host of a URL (or the domain of an e-mail address) when it is a reserved documentation name.

    >>> placeholder_host("https://sms-gateway.example.com/send"), placeholder_host("Portál <no-reply@biztosito.hu>")
    ('sms-gateway.example.com', None)
    """
    if "://" in value:
        try:
            host = urlsplit(value).hostname or ""
        except ValueError:
            return None
    else:
        host = value.rpartition("@")[2].strip().rstrip(">").strip()
    host = host.lower().rstrip(".")
    return host if any(host == d or host.endswith("." + d) for d in RESERVED_DOMAINS) else None


def looks_like_demo(value: str) -> bool:
    """True for a published demo value or an obvious placeholder.

    >>> looks_like_demo("demo-service-token-change-me-in-production"), looks_like_demo("h7QxDeMoTz…random")
    (True, False)
    """
    lowered = value.strip().lower()
    return lowered in DEMO_VALUES or _DEMO_MARKER_WORD.search(lowered) is not None


def env(name: str, default: str | None = None, *, production_required: bool = False, secret: bool = False,
        url_password: bool = False, real_host: bool = False) -> str | None:
    """Read ``name`` from the environment.

    ``secret``: in production the value must not be a published demo value and must have at least
    ``MIN_SECRET_LENGTH`` characters. ``url_password``: in production the password inside the URL (if any) must not
    be a published demo value. ``real_host``: in production the URL's host (or the address's domain) must not be a
    reserved documentation name such as ``example.com``.

    >>> env("PORTAL_HTTP_PORT", "8000")
    '8000'
    """
    value = os.environ.get(name)
    if value is not None and value.strip() != "":
        value = value.strip()
        if is_production():
            _refuse_demo(name, value, secret=secret, url_password=url_password)
            if real_host and placeholder_host(value):
                raise ConfigError(f"{name} points at {placeholder_host(value)}, a placeholder (reserved example "
                                  "domain); PORTAL_ENV=production needs the real address")
        return value
    if production_required and is_production():
        raise ConfigError(f"{name} must be set when PORTAL_ENV=production (see the configuration table in README.md)")
    return default


def _refuse_demo(name: str, value: str, *, secret: bool, url_password: bool) -> None:
    if secret and (looks_like_demo(value) or len(value) < MIN_SECRET_LENGTH):
        raise ConfigError(f"{name} is a published demo value or shorter than {MIN_SECRET_LENGTH} characters; "
                          "PORTAL_ENV=production needs a long random secret of your own")
    if url_password:
        password = urlsplit(value).password
        if password is not None and looks_like_demo(unquote(password)):
            # Never echo the value: the message ends up in logs.
            raise ConfigError(f"{name} carries a published demo password; PORTAL_ENV=production needs your own")


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
    return (env(name, None, production_required=True, url_password=True)
            or f"sqlite:///{var_dir() / (service + '.db')}")


def amqp_url() -> str | None:
    """RabbitMQ when ``PORTAL_AMQP_URL`` is set; ``None`` means the embedded file transport."""
    return env("PORTAL_AMQP_URL", None, production_required=True, url_password=True)
