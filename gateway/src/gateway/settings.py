"""The gateway's configuration from ``PORTAL_*`` variables (defaults make ``make run`` work with nothing set)."""
from __future__ import annotations

from portal_common import config

DEV_SECRET_KEY = "dev-only-secret-key-change-me"


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
    }
