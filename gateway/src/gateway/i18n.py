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
from flask_babel import get_translations
from jinja2 import pass_eval_context
from markupsafe import Markup

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


#: Texts cached per catalogue: templates translate literals only, but a bound keeps a mistake from growing it.
_CACHED_TEXTS_MAX = 4000


def _format(text: str, autoescape: bool, variables: dict) -> str:
    # What Jinja's newstyle gettext returns: escaped Markup when autoescaping, always %-formatted.
    if autoescape:
        text = Markup(text)
    return text % variables


def template_functions(catalogue) -> dict:
    """``_``, ``gettext`` and ``ngettext`` bound to one catalogue (the request's; see :func:`install_template_gettext`).

    A text without arguments is translated, escaped and formatted once per process and catalogue.
    """
    texts = getattr(catalogue, "_portal_texts", None)
    if texts is None:
        texts = catalogue._portal_texts = {True: {}, False: {}}

    @pass_eval_context
    def gettext(eval_ctx, string: str, **variables):
        if variables:
            return _format(catalogue.ugettext(string), eval_ctx.autoescape, variables)
        cache = texts[bool(eval_ctx.autoescape)]
        found = cache.get(string)
        if found is None:
            found = _format(catalogue.ugettext(string), eval_ctx.autoescape, variables)
            if len(cache) < _CACHED_TEXTS_MAX:
                cache[string] = found
        return found

    @pass_eval_context
    def ngettext(eval_ctx, singular: str, plural: str, num: int, **variables):
        variables.setdefault("num", num)
        return _format(catalogue.ungettext(singular, plural, num), eval_ctx.autoescape, variables)

    plain = texts.setdefault("translate", {})

    def translate(string: str) -> str:
        # As Flask-Babel's gettext without arguments: the translation as it is, not %-formatted.
        found = plain.get(string)
        if found is None:
            found = catalogue.ugettext(string)
            if len(plain) < _CACHED_TEXTS_MAX:
                plain[string] = found
        return found

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext, "translate": translate}


def _request_functions() -> dict:
    """The template functions bound to this request's catalogue, made once per request."""
    functions = g.get("_template_functions")
    if functions is None:
        functions = g._template_functions = template_functions(get_translations())
    return functions


def translate(text: str) -> str:
    """``text`` in the request's language (plain, not escaped): the same catalogue and cache as the templates'."""
    return _request_functions()["translate"](text)


def install_template_gettext(app) -> None:
    """``_()``, ``gettext`` and ``ngettext`` in templates: the request's catalogue looked up once per page, each text
    translated once per process, and no Jinja context made per call.

    A page calls ``_()`` dozens of times (``/documents``: 20 rows x a dozen texts, over 300). Flask-Babel's template
    functions look up the context, the domain, the locale and the catalogue on each call; Jinja's own
    (``install_gettext_callables``) are ``pass_context`` functions, and a ``pass_context`` call inside a
    ``{% for %}`` copies the whole template context to show it the loop's variables. Here every rendered template
    gets the functions bound to the request's catalogue (the one Flask-Babel picks, ``select_locale``) from a
    context processor; they take Jinja's evaluation context only (autoescaping). Macros imported without the
    context reach the same texts through the globals, which look the catalogue up on each call. The texts are the
    same as Jinja's newstyle gettext makes them. Call after ``babel.init_app`` (which installs its own).
    """

    @pass_eval_context
    def gettext(eval_ctx, string: str, **variables):
        return _request_functions()["_"](eval_ctx, string, **variables)

    @pass_eval_context
    def ngettext(eval_ctx, singular: str, plural: str, num: int, **variables):
        return _request_functions()["ngettext"](eval_ctx, singular, plural, num, **variables)

    app.jinja_env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)
    app.context_processor(_request_functions)


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
