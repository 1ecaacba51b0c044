"""Templates' ``url_for`` (gateway.urls) gives exactly Flask's links, also under a mount point, and falls back to
Flask for whatever it does not keep."""
from __future__ import annotations

import pytest
from flask import Flask, url_for
from werkzeug.routing import BuildError

from gateway.urls import cached_url_for


@pytest.fixture()
def app():
    app = Flask(__name__)
    def view(**kw):
        return ""

    for rule, endpoint in [("/", "index"), ("/documents", "documents"), ("/documents/<document_id>/download", "dl"),
                           ("/p/<int:page>", "page"), ("/a/<x>/b/<y>", "two"), ("/files/<path:name>", "files")]:
        app.add_url_rule(rule, endpoint, view)
    app.add_url_rule("/list", "listing", view, defaults={"page": 1})
    app.add_url_rule("/list/<int:page>", "listing", view)
    return app


CALLS = [
    ("index", {}), ("documents", {}), ("static", {"filename": "portal.css"}), ("static", {"filename": "a b.png"}),
    ("dl", {"document_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}), ("dl", {"document_id": "a/b?c"}),
    ("dl", {"document_id": "ő"}), ("dl", {"document_id": ".."}), ("documents", {"policy_number": "KGFB-1"}),
    ("documents", {"policy_number": "KGFB 1&x=2"}), ("documents", {"policy_number": None, "doc_type": "other"}),
    ("documents", {"page": 2}), ("page", {"page": 3}), ("two", {"x": "1", "y": "2"}), ("two", {"y": "b", "x": "a"}),
    ("files", {"name": "a/b.pdf"}), ("listing", {"page": 1}), ("listing", {"page": 2}),
    ("dl", {"document_id": "d1", "_anchor": "top"}), ("documents", {"q": "{x}"}), ("index", {"_external": True}),
]


@pytest.mark.parametrize("script_name", ["", "/portal"])
def test_same_links_as_flask_twice_over(app, script_name):
    cached = cached_url_for(app)
    with app.test_request_context("/", base_url=f"http://localhost{script_name}"):
        for _ in range(2):  # the second time from what was kept
            for endpoint, values in CALLS:
                assert cached(endpoint, **values) == url_for(endpoint, **values), (endpoint, values)


def test_the_mount_point_is_part_of_what_is_kept(app):
    cached = cached_url_for(app)
    with app.test_request_context("/"):
        assert cached("documents") == "/documents"
        assert cached("dl", document_id="d1") == "/documents/d1/download"
    with app.test_request_context("/", base_url="http://localhost/portal"):
        assert cached("documents") == "/portal/documents"
        assert cached("dl", document_id="d1") == "/portal/documents/d1/download"


def test_errors_are_flasks(app):
    cached = cached_url_for(app)
    with app.test_request_context("/"):
        for _ in range(2):
            with pytest.raises(BuildError):
                cached("nowhere")
            with pytest.raises(BuildError):
                cached("nowhere", document_id="d1")
            with pytest.raises(ValueError):
                url_for("page", page="x")
            with pytest.raises(ValueError):
                cached("page", page="x")  # an int converter: never a pattern, Flask's own error
