"""The anonymous home page's content is rendered once per process and reused (gateway/fragments.py): every visitor
must still see it in their language, with identity's current numbers and the links of the portal's mount point."""
from __future__ import annotations

import re

from .conftest import login, text


def _content(html: str) -> str:
    return html.split('<main id="main"', 1)[1].split("</main>", 1)[0]


def test_each_language_gets_its_own_content(client):
    hungarian = text(client.get("/?lang=hu"))
    english = text(client.get("/?lang=en"))
    again = text(client.get("/?lang=hu"))
    assert "Így kezdheti el három lépésben" in _content(hungarian)
    assert "Így kezdheti el" not in _content(english) and 'lang="en"' in english
    assert _content(again) == _content(hungarian)


def test_identitys_numbers_are_the_current_ones(client, fakes):
    assert re.search(r"\b2 munkanapon belül", text(client.get("/")))
    fakes.identity.rules_answer = {**fakes.identity.rules_answer, "callback_working_days": 5}
    assert re.search(r"\b5 munkanapon belül", text(client.get("/")))
    fakes.identity.rules_answer = {}  # identity never answered: the sentence is left out, the rest stays
    page = text(client.get("/"))
    assert "munkanapon belül visszahívjuk" not in page and "Így kezdheti el három lépésben" in page


def test_the_links_follow_the_mount_point(client):
    mounted = text(client.get("/", environ_overrides={"SCRIPT_NAME": "/portal"}))
    plain = text(client.get("/"))
    assert 'href="/portal/register"' in _content(mounted) and 'href="/register"' in _content(plain)
    assert 'href="/portal/register"' not in _content(plain)


def test_a_logged_in_visitor_sees_the_same_content_under_their_own_header(client, fakes):
    anonymous = text(client.get("/"))
    login(client)
    logged_in = text(client.get("/"))
    assert _content(logged_in) == _content(anonymous)
    assert 'id="logout"' in logged_in and 'id="logout"' not in anonymous
