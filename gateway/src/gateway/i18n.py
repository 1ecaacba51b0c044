"""Hungarian first, English second.

Texts are written in Hungarian in the code and templates (``_("…")``); English comes from
``translations/en/LC_MESSAGES/messages.po``. The ``.po`` file is compiled to ``.mo`` when the app starts (a few
milliseconds, atomic rename, skipped when up to date), so there is no separate build step for ``make run``.

Which language a page is in, first match wins:

1. ``?lang=hu|en`` — the switch in the page header. It is remembered: in the session, in a long-lived cookie
   (``portal_lang``, one year: the next visit starts in it too) and, for a logged-in customer, with the account
   (identity's ``language``: e-mails and SMS follow it).
2. the language chosen earlier (the session, else the cookie);
3. the browser's ``Accept-Language`` (a first visit from an English browser gets English);
4. Hungarian.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import g, request, session

LANGUAGES = ("hu", "en")
DEFAULT = "hu"
COOKIE = "portal_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
SOURCE_DIR = Path(__file__).parent / "translations"


def compile_catalogues(source: Path = SOURCE_DIR, target: Path | None = None) -> Path:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``source`` into ``target``; return ``target``."""
    target = target or Path(tempfile.gettempdir()) / f"portal-gateway-translations-{os.getuid()}"
    for po in source.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parts[-3])
        tmp = mo.with_name(f"{mo.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, mo)  # atomic: gunicorn workers starting together never read a half-written file
    return target


def install_template_gettext(app) -> None:
    """``_()`` in templates with the request's catalogue looked up once, not on every call.

    A page calls ``_()`` dozens of times; Flask-Babel's own template functions look up the context, the domain, the
    locale and the catalogue on each call — about half of the time the gateway spends rendering the anonymous home
    page. The texts are the same: the catalogue is the one Flask-Babel picks for the request (``select_locale``).
    Call after ``babel.init_app`` (which installs its own).
    """
    from flask_babel import get_translations

    def translations():
        found = g.get("_translations")
        if found is None:
            found = g._translations = get_translations()
        return found

    app.jinja_env.install_gettext_callables(
        lambda string: translations().ugettext(string),
        lambda singular, plural, num: translations().ungettext(singular, plural, num),
        newstyle=True)


def chosen_language() -> str | None:
    """The language the visitor chose with the switch (this visit, else an earlier one), if any."""
    lang = session.get("lang") if session else None
    if lang in LANGUAGES:
        return lang
    lang = request.cookies.get(COOKIE)
    return lang if lang in LANGUAGES else None


def select_locale() -> str:
    return chosen_language() or request.accept_languages.best_match(LANGUAGES) or DEFAULT


def remember_language() -> str | None:
    """``?lang=en`` on any page switches the language; returns the newly chosen language (None: no switch)."""
    lang = request.args.get("lang")
    if lang in LANGUAGES and chosen_language() != lang:
        session["lang"] = lang
        g.language_switched = lang
        return lang
    if lang in LANGUAGES and request.cookies.get(COOKIE) != lang:
        g.language_switched = lang  # refresh the cookie (chosen in the session only so far)
    return None


def set_cookie(response) -> None:
    """Remember a switch for the next visit too (the session cookie ends with the browser)."""
    lang = g.get("language_switched")
    if lang:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax",
                            secure=request.is_secure)


def current_language() -> str:
    return select_locale()
