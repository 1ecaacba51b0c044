"""``url_for`` for templates, remembered per process: the same link is built once, not on every page.

A page builds 25–65 links (the header and footer alone about 20, ``/documents`` two per row); Flask's ``url_for``
walks the URL map each time. The address of an endpoint depends only on the endpoint, the values and the
application's mount point (``SCRIPT_NAME``) — the gateway has no ``url_defaults`` and no subdomains — so:

- without values (and ``static`` with its ``filename``) the finished link is kept;
- with values that are plain text needing no escaping (ids: letters, digits, ``-._~``) the link is kept as a
  pattern with placeholders, and the values are put into it;
- anything else (numbers, ``None``, characters a URL escapes, ``_anchor``/``_external``…, a relative ``.endpoint``,
  no request) goes to Flask's ``url_for`` as before.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from flask import has_request_context, request

_PLAIN = re.compile(r"[A-Za-z0-9._~-]+")
_MAX = 2000  # endpoints x value-name sets: a few hundred at most; the bound only guards against a mistake
_UNCACHEABLE = object()


def cached_url_for(app) -> Callable[..., str]:
    """The app's ``url_for``, remembered as described above."""
    build = app.url_for
    links: dict[tuple, str] = {}
    patterns: dict[tuple, Any] = {}

    def url_for(endpoint: str, **values: Any) -> str:
        if endpoint[:1] == "." or not has_request_context():
            return build(endpoint, **values)
        root = request.script_root
        if not values or (endpoint == "static" and len(values) == 1 and "filename" in values):
            key = (root, endpoint, values.get("filename"))
            found = links.get(key)
            if found is None:
                found = build(endpoint, **values)
                if len(links) < _MAX:
                    links[key] = found
            return found
        names = tuple(values)
        if any(name[:1] == "_" or type(value) is not str or not _PLAIN.fullmatch(value)
               for name, value in values.items()):
            return build(endpoint, **values)
        key = (root, endpoint, names)
        pattern = patterns.get(key)
        if pattern is None:
            pattern = _pattern(app, endpoint, names)
            if len(patterns) < _MAX:
                patterns[key] = pattern
        if pattern is _UNCACHEABLE:
            return build(endpoint, **values)
        return pattern.format_map(values)

    return url_for


def _pattern(app, endpoint: str, names: tuple[str, ...]):
    """The link with a ``{name}`` placeholder for each value, or ``_UNCACHEABLE``: an endpoint with several rules or
    defaults (which rule builds the link may then depend on the values), a converter that takes no text, a link
    that already holds braces."""
    try:
        rules = list(app.url_map.iter_rules(endpoint))
    except KeyError:  # an unknown endpoint: Flask's own error on the real call
        return _UNCACHEABLE
    if len(rules) != 1 or rules[0].defaults:
        return _UNCACHEABLE
    marks = {name: f"zq{n}placeholderzq" for n, name in enumerate(names)}
    try:
        built = app.url_for(endpoint, **marks)
    except Exception:  # noqa: BLE001 — whatever Flask thinks of it, it says again on the real call
        return _UNCACHEABLE
    if "{" in built or "}" in built or any(built.count(mark) != 1 for mark in marks.values()):
        return _UNCACHEABLE
    for name, mark in marks.items():
        built = built.replace(mark, "{" + name + "}")
    return built
