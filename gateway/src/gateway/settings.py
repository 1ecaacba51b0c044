"""The gateway's configuration from ``PORTAL_*`` variables (defaults make ``make run`` work with nothing set)."""
from __future__ import annotations

from portal_common import config

DEV_SECRET_KEY = "dev-only-secret-key-change-me"


# config key -> (environment variable, default). Identity reads the same variables (services/identity/settings.py).
RULES = {
    "LOCKOUT_THRESHOLD": ("PORTAL_LOCKOUT_THRESHOLD", 3),  # the n-th consecutive wrong password locks
    "LOCKOUT_HOURS": ("PORTAL_LOCKOUT_HOURS", 24),
    "ACTIVATION_TTL_HOURS": ("PORTAL_ACTIVATION_TTL_HOURS", 24),  # the activation link's validity
    "OTP_TTL_HOURS": ("PORTAL_OTP_TTL_HOURS", 24),  # the one-time password's validity (forgotten credentials)
    "SESSION_IDLE_MINUTES": ("PORTAL_SESSION_IDLE_MINUTES", 15),
    "PASSWORD_MIN_LENGTH": ("PORTAL_PASSWORD_MIN_LENGTH", 12),
    "CALLBACK_WORKING_DAYS": ("PORTAL_CALLBACK_WORKING_DAYS", 2),  # "Kérdésem van": the callback promise
    "EMAIL_CHANGE_TTL_HOURS": ("PORTAL_EMAIL_CHANGE_TTL_HOURS", 24),  # the new address's confirmation link
    "MOBILE_CODE_TTL_MINUTES": ("PORTAL_MOBILE_CODE_TTL_MINUTES", 15),  # the new mobile's SMS code
}


def rules_from_env() -> dict:
    return {key: config.env_int(variable, default) for key, (variable, default) in RULES.items()}


def from_env() -> dict:
    public_url = config.env("PORTAL_PUBLIC_URL", "http://127.0.0.1:8000", production_required=True).rstrip("/")
    return {
        # Signs the session cookie (which holds identity's session id) and the CSRF tokens.
        "SECRET_KEY": config.env("PORTAL_SECRET_KEY", DEV_SECRET_KEY, production_required=True, secret=True),
        "PUBLIC_URL": public_url,
        "INSURER_NAME": config.env("PORTAL_INSURER_NAME", "Minta Biztosító"),
        "TELESERVICE_PHONE": config.env("PORTAL_TELESERVICE_PHONE", "+36 1 555 0100"),
        # Dev pages (captured e-mail and SMS) only in the embedded run, never in production.
        "DEV_PAGES": (not config.is_production()) and config.env("PORTAL_DEV_PAGES", "1") != "0",
        "PROXY_COUNT": config.env_int("PORTAL_PROXY_COUNT", 0),  # reverse proxies in front (X-Forwarded-For)
        # The rules' numbers, read from the SAME variables identity enforces them with: the pages only tell them.
        **rules_from_env(),
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
