"""Settings of the notify service, from ``PORTAL_*`` environment variables (safe defaults for the embedded run)."""
from __future__ import annotations

from dataclasses import dataclass

from portal_common.config import ConfigError, env, env_int


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
    max_attempts: int = 5
    retry_base_s: float = 30.0
    retry_max_s: float = 3600.0
    poll_interval_s: float = 0.5

    @classmethod
    def from_env(cls) -> "Settings":
        try:
            retry_base = float(env("PORTAL_NOTIFY_RETRY_BASE_S", str(cls.retry_base_s)))
            poll = float(env("PORTAL_NOTIFY_POLL_INTERVAL_S", str(cls.poll_interval_s)))
        except ValueError as exc:
            raise ConfigError(f"PORTAL_NOTIFY_RETRY_BASE_S / PORTAL_NOTIFY_POLL_INTERVAL_S: {exc}") from exc
        max_attempts = env_int("PORTAL_NOTIFY_MAX_ATTEMPTS", cls.max_attempts)
        if max_attempts < 1:
            raise ConfigError("PORTAL_NOTIFY_MAX_ATTEMPTS must be at least 1")
        return cls(
            smtp_url=env("PORTAL_SMTP_URL", cls.smtp_url, production_required=True),
            smtp_from=env("PORTAL_SMTP_FROM", cls.smtp_from),
            sms_url=env("PORTAL_SMS_URL", cls.sms_url, production_required=True),
            insurer_name=env("PORTAL_INSURER_NAME", cls.insurer_name),
            teleservice_phone=env("PORTAL_TELESERVICE_PHONE", cls.teleservice_phone),
            public_url=env("PORTAL_PUBLIC_URL", cls.public_url, production_required=True).rstrip("/"),
            max_attempts=max_attempts,
            retry_base_s=retry_base,
            poll_interval_s=poll,
        )
