"""Identity's own cleanup rules (run by the worker's housekeeper, see ``portal_common.housekeeping``).

- ``client_attempts`` (identification, recovery/resend, failed logins per client): the throttles only look back one
  window (minutes); a row is kept a day (``PORTAL_THROTTLE_RETENTION_DAYS``, default 1), then deleted.
- ``unknown_login_failures``: a row whose lock has run out is deleted (the next failure would restart its count at 1
  anyway — the same as a fresh row); a row that never reached the lock is deleted after
  ``PORTAL_UNKNOWN_LOGIN_RETENTION_DAYS`` (default 30) without a new failure.
- ``login_sessions``: a session idle past its timeout can never be used again; deleted a day after that.
- ``activation_tokens``: used, revoked or expired tokens are deleted after ``PORTAL_TOKEN_RETENTION_DAYS``
  (default 30); until then the link still answers "expired / already used" instead of "unknown".
- ``contact_changes`` (new e-mail / mobile waiting for the link or the SMS code): confirmed, superseded or expired
  ones after ``PORTAL_TOKEN_RETENTION_DAYS`` too. ``callback_requests`` are the customer's requests: kept.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, or_

from portal_common.housekeeping import Rule, days, older_than

from ..settings import Settings
from . import orm


def rules(settings: Settings) -> list[Rule]:
    throttle = days("PORTAL_THROTTLE_RETENTION_DAYS", 1)
    unknown = days("PORTAL_UNKNOWN_LOGIN_RETENTION_DAYS", 30)
    tokens = days("PORTAL_TOKEN_RETENTION_DAYS", 30)
    idle = timedelta(minutes=settings.session_idle_minutes) + timedelta(days=1)
    a, u, s, t, c = (orm.client_attempts, orm.unknown_login_failures, orm.login_sessions, orm.activation_tokens,
                     orm.contact_changes)
    # client_attempts holds every per-client allowance (identification, recovery, failed logins, callbacks): the
    # longest window decides.
    attempts_window = max(throttle, settings.identify_window, settings.client_window,
                          timedelta(minutes=settings.callback_window_minutes))
    return [
        Rule("client_attempts", a, older_than(a, "at", attempts_window)),
        Rule("unknown_login_failures", u, lambda now: or_(
            u.c.locked_until <= now,
            and_(u.c.locked_until.is_(None), u.c.last_failed_at < now - unknown))),
        Rule("login_sessions", s, older_than(s, "last_seen_at", idle)),
        Rule("activation_tokens", t, lambda now: or_(
            t.c.used_at < now - tokens, t.c.revoked_at < now - tokens, t.c.expires_at < now - tokens)),
        Rule("contact_changes", c, lambda now: or_(
            c.c.confirmed_at < now - tokens, c.c.revoked_at < now - tokens, c.c.expires_at < now - tokens)),
    ]
