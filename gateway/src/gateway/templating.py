"""The gateway's Jinja environment: Flask's, with a cheaper ``row.field`` on the services' JSON objects.

Jinja reads ``d.title`` as ``getattr(d, "title")`` first and ``d["title"]`` only when that raises AttributeError.
The pages show the services' answers — plain dicts — so every field of every row first raised and caught an
exception (a ``/documents`` page reads ~700 fields: 9 % of the gateway's CPU on that page). For an exact ``dict``
and a name that is not one of ``dict``'s own attributes the attribute look-up can only fail, so the item is read
directly; anything else (``d.items``, dict subclasses, objects) goes Jinja's way. The result is the same value, or
the same Undefined, as Jinja's.
"""
from __future__ import annotations

from typing import Any

from flask.templating import Environment

_DICT_ATTRIBUTES = frozenset(dir(dict))


class PortalEnvironment(Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (TypeError, KeyError):  # an unhashable name cannot be a key either: Jinja's Undefined
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)
