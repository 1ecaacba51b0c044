"""The identity service's rules, each configurable through a ``PORTAL_*`` variable (defaults in brackets).

The numbers come from the product's rules (the 3rd wrong password locks for 24 hours, the activation link and the
one-time password are valid for 24 hours, a session ends after 15 minutes idle).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from portal_common import config


DEV_USERNAME_HASH_KEY = "dev-only-username-hash-key"


@dataclass(frozen=True)
class Settings:
    lockout_threshold: int = 3  # PORTAL_LOCKOUT_THRESHOLD
    lockout_hours: int = 24  # PORTAL_LOCKOUT_HOURS
    activation_ttl_hours: int = 24  # PORTAL_ACTIVATION_TTL_HOURS
    otp_ttl_hours: int = 24  # PORTAL_OTP_TTL_HOURS
    session_idle_minutes: int = 15  # PORTAL_SESSION_IDLE_MINUTES
    session_touch_seconds: int = 60  # PORTAL_SESSION_TOUCH_SECONDS (how stale the stored idle timer may get)
    identify_max_failures: int = 5  # PORTAL_IDENTIFY_MAX_FAILURES
    identify_window_minutes: int = 15  # PORTAL_IDENTIFY_WINDOW_MINUTES
    recovery_max_per_client: int = 5  # PORTAL_RECOVERY_MAX_PER_CLIENT (recovery + resend, together)
    login_max_failures_per_client: int = 20  # PORTAL_LOGIN_MAX_FAILURES_PER_CLIENT (password spraying)
    client_window_minutes: int = 15  # PORTAL_CLIENT_WINDOW_MINUTES (the window of the two limits above)
    declaration_version: str = "2026-11"  # PORTAL_DECLARATION_VERSION
    public_url: str = "http://127.0.0.1:8000"  # PORTAL_PUBLIC_URL
    policies_url: str = "http://127.0.0.1:8102"  # PORTAL_POLICIES_URL
    password_min_length: int = 12  # PORTAL_PASSWORD_MIN_LENGTH
    #: PORTAL_USERNAME_HASH_KEY: keys the hash under which unknown usernames typed at login are counted
    #: None in the worker, which never hashes a username and so does not hold the key (least secrets).
    username_hash_key: str | None = field(default=DEV_USERNAME_HASH_KEY, repr=False)
    callback_working_days: int = 2  # PORTAL_CALLBACK_WORKING_DAYS (the promise: a callback within 2 working days)
    extra_non_working_days: tuple[date, ...] = ()  # PORTAL_EXTRA_NON_WORKING_DAYS ("2026-12-31,2027-01-02")
    callback_max_per_client: int = 5  # PORTAL_CALLBACK_MAX_PER_CLIENT (per PORTAL_CALLBACK_WINDOW_MINUTES)
    callback_window_minutes: int = 60  # PORTAL_CALLBACK_WINDOW_MINUTES
    email_change_ttl_hours: int = 24  # PORTAL_EMAIL_CHANGE_TTL_HOURS (the confirmation link to the new address)
    mobile_code_ttl_minutes: int = 15  # PORTAL_MOBILE_CODE_TTL_MINUTES (the SMS code to the new number)
    mobile_code_max_attempts: int = 5  # PORTAL_MOBILE_CODE_MAX_ATTEMPTS (wrong codes before a new one is needed)

    @classmethod
    def from_env(cls, *, with_username_hash_key: bool = True) -> "Settings":
        return cls(
            lockout_threshold=config.env_int("PORTAL_LOCKOUT_THRESHOLD", cls.lockout_threshold),
            lockout_hours=config.env_int("PORTAL_LOCKOUT_HOURS", cls.lockout_hours),
            activation_ttl_hours=config.env_int("PORTAL_ACTIVATION_TTL_HOURS", cls.activation_ttl_hours),
            otp_ttl_hours=config.env_int("PORTAL_OTP_TTL_HOURS", cls.otp_ttl_hours),
            session_idle_minutes=config.env_int("PORTAL_SESSION_IDLE_MINUTES", cls.session_idle_minutes),
            session_touch_seconds=config.env_int("PORTAL_SESSION_TOUCH_SECONDS", cls.session_touch_seconds),
            identify_max_failures=config.env_int("PORTAL_IDENTIFY_MAX_FAILURES", cls.identify_max_failures),
            identify_window_minutes=config.env_int("PORTAL_IDENTIFY_WINDOW_MINUTES", cls.identify_window_minutes),
            recovery_max_per_client=config.env_int("PORTAL_RECOVERY_MAX_PER_CLIENT", cls.recovery_max_per_client),
            login_max_failures_per_client=config.env_int("PORTAL_LOGIN_MAX_FAILURES_PER_CLIENT",
                                                         cls.login_max_failures_per_client),
            client_window_minutes=config.env_int("PORTAL_CLIENT_WINDOW_MINUTES", cls.client_window_minutes),
            declaration_version=config.env("PORTAL_DECLARATION_VERSION", cls.declaration_version),
            public_url=config.env("PORTAL_PUBLIC_URL", cls.public_url, production_required=True,
                                  real_host=True).rstrip("/"),
            policies_url=config.env("PORTAL_POLICIES_URL", cls.policies_url).rstrip("/"),
            password_min_length=config.env_int("PORTAL_PASSWORD_MIN_LENGTH", cls.password_min_length),
            username_hash_key=(config.env("PORTAL_USERNAME_HASH_KEY", DEV_USERNAME_HASH_KEY, production_required=True,
                                          secret=True)
                               if with_username_hash_key else None),
            callback_working_days=config.env_int("PORTAL_CALLBACK_WORKING_DAYS", cls.callback_working_days),
            extra_non_working_days=_days("PORTAL_EXTRA_NON_WORKING_DAYS"),
            callback_max_per_client=config.env_int("PORTAL_CALLBACK_MAX_PER_CLIENT", cls.callback_max_per_client),
            callback_window_minutes=config.env_int("PORTAL_CALLBACK_WINDOW_MINUTES", cls.callback_window_minutes),
            email_change_ttl_hours=config.env_int("PORTAL_EMAIL_CHANGE_TTL_HOURS", cls.email_change_ttl_hours),
            mobile_code_ttl_minutes=config.env_int("PORTAL_MOBILE_CODE_TTL_MINUTES", cls.mobile_code_ttl_minutes),
            mobile_code_max_attempts=config.env_int("PORTAL_MOBILE_CODE_MAX_ATTEMPTS", cls.mobile_code_max_attempts),
        )

    @property
    def callback_window(self) -> timedelta:
        return timedelta(minutes=self.callback_window_minutes)

    @property
    def email_change_ttl(self) -> timedelta:
        return timedelta(hours=self.email_change_ttl_hours)

    @property
    def mobile_code_ttl(self) -> timedelta:
        return timedelta(minutes=self.mobile_code_ttl_minutes)

    @property
    def lockout(self) -> timedelta:
        return timedelta(hours=self.lockout_hours)

    @property
    def activation_ttl(self) -> timedelta:
        return timedelta(hours=self.activation_ttl_hours)

    @property
    def otp_ttl(self) -> timedelta:
        return timedelta(hours=self.otp_ttl_hours)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def session_touch(self) -> timedelta:
        return timedelta(seconds=self.session_touch_seconds)

    @property
    def identify_window(self) -> timedelta:
        return timedelta(minutes=self.identify_window_minutes)

    @property
    def client_window(self) -> timedelta:
        return timedelta(minutes=self.client_window_minutes)


def _days(name: str) -> tuple[date, ...]:
    from .domain.workdays import parse_days

    try:
        return parse_days(config.env(name, ""))
    except ValueError as exc:
        raise config.ConfigError(f"{name}: {exc}") from None
