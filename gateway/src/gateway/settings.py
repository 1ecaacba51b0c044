"""The gateway's configuration from ``PORTAL_*`` variables (defaults make ``make run`` work with nothing set)."""
from __future__ import annotations

from portal_common import config

DEV_SECRET_KEY = "dev-only-secret-key-change-me"


def cache_enabled() -> bool:
    """``PORTAL_GATEWAY_CACHE``: ``on`` (default) or ``off``. Off: no invalidation feed, so no cache (every page asks
    the services) and no broker connection (``PORTAL_AMQP_URL`` is then not needed)."""
    value = (config.env("PORTAL_GATEWAY_CACHE", "on") or "on").lower()
    if value not in ("on", "off"):
        raise config.ConfigError(f"PORTAL_GATEWAY_CACHE must be 'on' or 'off', got {value!r}")
    return value == "on"


def feed_url() -> str | None:
    """The broker URL of the cache's invalidation feed (``PORTAL_AMQP_URL``, the gateway's own broker user
    ``portal-gateway``), or ``None`` when the cache is off. Required in production while the cache is on."""
    return config.amqp_url() if cache_enabled() else None


def from_env() -> dict:
    public_url = config.env("PORTAL_PUBLIC_URL", "http://127.0.0.1:8000", production_required=True,
                            real_host=True).rstrip("/")
    return {
        # Signs the session cookie (which holds identity's session id) and the CSRF tokens.
        "SECRET_KEY": config.env("PORTAL_SECRET_KEY", DEV_SECRET_KEY, production_required=True, secret=True),
        "PUBLIC_URL": public_url,
        "INSURER_NAME": config.env("PORTAL_INSURER_NAME", "Minta Biztosító"),
        "TELESERVICE_PHONE": config.env("PORTAL_TELESERVICE_PHONE", "+36 1 555 0100"),
        # Dev pages (captured e-mail and SMS) only in the embedded run, never in production.
        "DEV_PAGES": (not config.is_production()) and config.env("PORTAL_DEV_PAGES", "1") != "0",
        "PROXY_COUNT": config.env_int("PORTAL_PROXY_COUNT", 0),  # reverse proxies in front (X-Forwarded-For)
        "SESSION_COOKIE_NAME": "portal_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": public_url.startswith("https://"),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": 3600,
        "BABEL_DEFAULT_LOCALE": "hu",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Budapest",
        "MAX_CONTENT_LENGTH": 64 * 1024,  # only small forms are ever posted here
        # Read here so that a production gateway without its broker URL stops at start (gateway/feed.py uses it).
        "GATEWAY_FEED": feed_url() is not None,
    }
