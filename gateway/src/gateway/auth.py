"""Who is logged in: identity's session id in the encrypted session cookie (session_cookie.py), validated on every protected request.

The cookie holds only the opaque session id (and the language); identity keeps the session and its idle timer
(identity's ``PORTAL_SESSION_IDLE_MINUTES``, 15), which ``GET /internal/sessions/<id>`` slides. The gateway asks it
on a page view unless this process asked it less than 10 s ago and the bus has not said the account's sessions ended
since (cache.py). A new session id at login, and the cookie is cleared first so its value changes too (ASVS 7.2.4).
"""
from __future__ import annotations

import posixpath
import re
from functools import wraps
from urllib.parse import unquote, urlsplit

from flask import flash, g, redirect, request, session, url_for
from flask_babel import gettext as _, ngettext

from .clients import clients
from .clients.http import SessionExpired

SESSION_KEY = "sid"
# Pages a user with a forced password change may still see.
ALLOWED_WHILE_MUST_CHANGE = {"account.change_password", "account.logout"}


def start_session(login: dict) -> None:
    """Replace whatever the cookie held with the new identity session (keep only the chosen language)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session[SESSION_KEY] = login["session_id"]


def end_session() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def current_user() -> dict | None:
    """The validated identity session of this request (``g.user``), or None (identity's answer, or this process's
    recent copy of it: cache.py)."""
    if "user" in g:
        return g.user
    g.user = None
    session_id = session.get(SESSION_KEY)
    if session_id:
        try:
            g.user = clients().identity.get_session(session_id)
        except SessionExpired:
            end_session()
            g.session_expired = True
    return g.user


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        had_session = SESSION_KEY in session
        user = current_user()
        if user is None:
            if had_session:
                minutes = (clients().identity.rules() or {}).get("session_idle_minutes")  # identity's rule
                flash(ngettext("A munkamenete %(num)s perc tétlenség után biztonsági okból lejárt. Kérjük, "
                               "jelentkezzen be újra.",
                               "A munkamenete %(num)s perc tétlenség után biztonsági okból lejárt. Kérjük, "
                               "jelentkezzen be újra.", minutes) if minutes else
                      _("A munkamenete tétlenség miatt biztonsági okból lejárt. Kérjük, jelentkezzen be újra."),
                      "notice")
            return redirect(url_for("account.login", next=_safe_next(request.full_path)))
        if user.get("must_change_password") and request.endpoint not in ALLOWED_WHILE_MUST_CHANGE:
            return redirect(url_for("account.change_password"))
        return view(*args, **kwargs)

    return wrapped


# Printable ASCII except the backslash: no control characters (browsers drop tab/CR/LF), no spaces, no non-ASCII
# look-alikes (fullwidth solidus, U+2215 ...), no backslash (browsers read it as a slash).
_PLAIN_PATH = re.compile(r"^/[!-\[\]-~]*$")
_MAX_NEXT = 2000


def _safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this portal, else None (no open redirect; ASVS 3.7.2, 5.x).

    Checked on the raw value AND on its percent-decoded forms (decoded up to three times), so that encoded
    slashes, backslashes, tabs and dot segments cannot turn into ``//evil.example`` in a browser or a proxy.

    >>> _safe_next("/documents?page=2"), _safe_next("/%09/evil.example"), _safe_next("//evil.example")
    ('/documents?page=2', None, None)
    """
    if not target or len(target) > _MAX_NEXT:
        return None
    forms, current = [target], target
    for _ in range(3):
        decoded = unquote(current)
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    else:
        return None  # still decoding after three rounds: nobody links like that
    for form in forms:
        if not _PLAIN_PATH.match(form) or form.startswith("//"):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return None
        path = parts.path
        if path.startswith("//") or _has_dot_segment(path):
            return None
        if posixpath.normpath(path).startswith("//"):
            return None
    return target.rstrip("?")


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


safe_next = _safe_next
