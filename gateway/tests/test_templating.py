"""``row.field`` in the gateway's templates reads a dict's item directly (gateway/templating.py); what a template
shows must stay exactly what Jinja's own attribute look-up shows."""
from __future__ import annotations

import jinja2
import pytest
from flask import render_template_string

from gateway.templating import PortalEnvironment


class Row(dict):
    title = "class attribute"  # a dict subclass: Jinja's way (the attribute first)


ROW = {"title": "Kötvény <2026>", "read": False, "size": 0, "items": "an item called items", "delivery": None,
       "nested": {"arrived_at": "2026-12-01T10:00:00+00:00"}}
EXPRESSIONS = [
    "{{ d.title }}", "{{ d.read }}", "{{ d.size }}", "{{ d.delivery }}", "{{ d.nested.arrived_at }}",
    "{{ d.missing }}", "{{ d.missing is defined }}", "{{ d.nested.missing is undefined }}",
    "{{ 'yes' if d.missing is defined else 'no' }}",
    "{{ d.items is callable }}", "{{ d['items'] }}", "{{ d.get('title') }}", "{{ d.keys() | list | length }}",
    "{% if d.read %}read{% else %}new{% endif %}", "{{ d.__class__.__name__ }}",
    "{{ r.title }}", "{{ r.other }}", "{{ r.missing is defined }}",
    "{% for x in rows %}{{ x.title }}/{{ x.read }};{% endfor %}",
]


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_a_dicts_fields_read_as_jinja_reads_them(app, source):
    values = {"d": ROW, "r": Row(title="item", other="other item"), "rows": [ROW, {"title": "b", "read": True}]}
    expected = jinja2.Environment(autoescape=True).from_string(source).render(**values)
    with app.test_request_context("/"):
        assert isinstance(app.jinja_env, PortalEnvironment)
        assert render_template_string(source, **values) == expected


def test_a_missing_field_is_still_an_error_where_jinja_makes_it_one(app):
    strict = PortalEnvironment(app, undefined=jinja2.StrictUndefined)
    with app.test_request_context("/"), pytest.raises(jinja2.UndefinedError, match="has no attribute 'missing'"):
        strict.from_string("{{ d.missing }}").render(d=ROW)
