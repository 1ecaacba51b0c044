"""Hungarian first, English second.

Texts are written in Hungarian in the code and templates (``_("…")``); English comes from
``translations/en/LC_MESSAGES/messages.po``. The ``.po`` file is compiled to ``.mo`` when the app starts (a few
milliseconds, atomic rename, skipped when up to date), so there is no separate build step for ``make run``.
The language is chosen by ``?lang=hu|en`` (remembered in the session), otherwise Hungarian.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request, session

LANGUAGES = ("hu", "en")
DEFAULT = "hu"
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


def select_locale() -> str:
    lang = session.get("lang") if session else None
    return lang if lang in LANGUAGES else DEFAULT


def remember_language() -> None:
    """``?lang=en`` on any page switches the language for the rest of the visit."""
    lang = request.args.get("lang")
    if lang in LANGUAGES and session.get("lang") != lang:
        session["lang"] = lang


def current_language() -> str:
    return select_locale()
