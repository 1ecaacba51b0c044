"""The templates' ``_()``, ``gettext`` and ``ngettext`` (gateway.i18n): the request's language, inside loops and in
macros imported without the context alike, with the arguments escaped as Jinja's own gettext does."""
from __future__ import annotations

from flask import render_template_string

from gateway.app import create_app
from gateway.clients.fakes import fake_clients

PAGE = """{% from "_macros.html" import submit %}
{%- for title in titles %}[{{ _("Dokumentum") }}|{{ _("Kijelölés: %(title)s", title=title) }}]{% endfor %}
{{ ngettext("%(num)s alkalommal, először: %(first)s", "%(num)s alkalommal, először: %(first)s", n, first=first) }}
{{ gettext("%(n)s olvasatlan", n=n) }} {{ submit(_("Dokumentum")) }} {{ _("100%% biztos") }}"""


def _render(lang: str, **values) -> str:
    app = create_app({"CLIENTS": fake_clients(), "TESTING": True})
    with app.test_request_context(f"/?lang={lang}", headers={"Accept-Language": lang}):
        return render_template_string(PAGE, **values)


def test_texts_in_loops_and_imported_macros_in_both_languages():
    values = {"titles": ["A", "B"], "n": 1, "first": "ma"}
    english = _render("en", **values)
    assert "[Document|Select: A][Document|Select: B]" in english
    assert "once, at ma" in english and "1 unread" in english
    assert '<button type="submit" class="button" id="submit">Document</button>' in english
    hungarian = _render("hu", **{**values, "n": 2})
    assert "[Dokumentum|Kijelölés: A][Dokumentum|Kijelölés: B]" in hungarian
    assert "2 alkalommal, először: ma" in hungarian and "2 olvasatlan" in hungarian
    assert "100% biztos" in hungarian  # always %-formatted, as Jinja's newstyle gettext


def test_arguments_are_escaped_and_the_texts_are_not_mixed_between_languages():
    evil = '<script>alert("x")</script>'
    html = _render("en", titles=[evil], n=3, first=evil)
    assert evil not in html and "Select: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "3 times, first at &lt;script&gt;" in html
    assert "[Dokumentum|" in _render("hu", titles=["A"], n=1, first="")  # the English page before cached nothing


def test_the_header_marks_the_page_the_customer_is_on(logged_in, fakes):
    home = logged_in.get("/home").get_data(as_text=True)
    assert '<a href="/home" aria-current="page">Kezdőlap</a>' in home
    assert '<a href="/documents">Dokumentumaim</a>' in home
    documents = logged_in.get("/documents").get_data(as_text=True)
    assert '<a href="/documents" aria-current="page">Dokumentumaim</a>' in documents
    assert '<a href="/home">Kezdőlap</a>' in documents
    anonymous = logged_in.application.test_client().get("/register?lang=en").get_data(as_text=True)
    assert 'aria-current="page">Registration</a>' in anonymous
