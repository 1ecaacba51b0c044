"""Settings of the notify service, from ``PORTAL_*`` environment variables (safe defaults for the embedded run)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

from portal_common.config import ConfigError, env

_TRUE = ("1", "true", "yes")


def check_smtp_url(url: str) -> None:
    """Refuse an SMTP URL that would send the login in clear: a user or password with plain ``smtp://`` and no
    ``?starttls=1``. Allowed only to a loopback host (a dev sink on this machine). Raises ConfigError; the message
    never repeats the password."""
    p = urlparse(url)
    if p.scheme != "smtp" or not (p.username or p.password):
        return
    query = {k: v[-1].lower() for k, v in parse_qs(p.query).items()}
    if query.get("starttls", "0") in _TRUE or _is_loopback(p.hostname):
        return
    raise ConfigError(
        f"PORTAL_SMTP_URL: smtp://…@{p.hostname}{':' + str(p.port) if p.port else ''} has a user and password but "
        "neither TLS nor STARTTLS, so they would cross the network in clear. Use "
        "smtps://user:password@host:465 (implicit TLS) or smtp://user:password@host:587?starttls=1 "
        "(plain smtp:// with credentials is accepted only for a loopback host, e.g. a local test sink).")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(name: str, default: float) -> float:
    raw = env(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0")
    return value


@dataclass(frozen=True)
class Settings:
    smtp_url: str = "smtp://127.0.0.1:1025"
    smtp_from: str = "Ügyfélportál <no-reply@portal.example>"
    smtp_timeout: float = 10.0
    sms_url: str = "http://127.0.0.1:9025/sms"
    sms_timeout: float = 10.0
    insurer_name: str = "Minta Biztosító"
    teleservice_phone: str = "+36 1 555 0100"
    public_url: str = "http://127.0.0.1:8000"
    #: A transient failure (SMTP or SMS gateway down, 4xx/5xx "try later") is retried until this long after the
    #: delivery was recorded; only then it counts as failed (and ``notification.failed`` is published).
    retry_horizon_s: float = 24 * 3600.0
    retry_base_s: float = 30.0
    #: The delays grow 30 s, 60 s, 2 min … up to this cap, so a recovered server is used within 10 minutes.
    retry_max_s: float = 600.0
    poll_interval_s: float = 0.5

    @classmethod
    def from_env(cls) -> "Settings":
        retry_base = _positive("PORTAL_NOTIFY_RETRY_BASE_S", cls.retry_base_s)
        retry_max = _positive("PORTAL_NOTIFY_RETRY_MAX_S", cls.retry_max_s)
        horizon_h = _positive("PORTAL_NOTIFY_RETRY_HORIZON_HOURS", cls.retry_horizon_s / 3600)
        poll = _positive("PORTAL_NOTIFY_POLL_INTERVAL_S", cls.poll_interval_s)
        smtp_url = env("PORTAL_SMTP_URL", cls.smtp_url, production_required=True, url_password=True)
        check_smtp_url(smtp_url)
        return cls(
            smtp_url=smtp_url,
            smtp_from=env("PORTAL_SMTP_FROM", cls.smtp_from, real_host=True),
            sms_url=env("PORTAL_SMS_URL", cls.sms_url, production_required=True, url_password=True, real_host=True),
            insurer_name=env("PORTAL_INSURER_NAME", cls.insurer_name),
            teleservice_phone=env("PORTAL_TELESERVICE_PHONE", cls.teleservice_phone),
            public_url=env("PORTAL_PUBLIC_URL", cls.public_url, production_required=True, real_host=True).rstrip("/"),
            retry_horizon_s=horizon_h * 3600,
            retry_base_s=retry_base,
            retry_max_s=max(retry_base, retry_max),
            poll_interval_s=poll,
        )
