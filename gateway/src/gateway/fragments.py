"""Parts of pages that are the same for every visitor: rendered once per process, then reused.

``{{ fragment("main/_index_content.html", phone=teleservice_phone) }}`` renders that template with only the values
given, ``labels`` and the template globals (``_``, ``ngettext``, ``url_for`` …) — no context processor, so no
session, user, flash message or CSRF token is in reach — and keeps the result per (template, mount point, language,
values). A fragment must depend on nothing else; a value it shows is passed, and is part of the key.
"""
from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import get_locale
from markupsafe import Markup

from . import labels

_MAX = 200  # templates x languages x mount points x values: a handful; the bound only guards against a mistake


def fragment(template: str, **values: Any) -> Markup:
    kept = current_app.extensions.setdefault("fragments", {})  # per application (its templates, links, config)
    key = (template, request.script_root, str(get_locale()), tuple(sorted(values.items())))
    found = kept.get(key)
    if found is None:
        found = Markup(current_app.jinja_env.get_template(template).render(labels=labels, **values))
        if len(kept) < _MAX:
            kept[key] = found
    return found
