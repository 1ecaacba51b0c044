"""The baseline of ``make bench-gateway``: a bare Flask page with a Jinja template and a signed-cookie session.

It does what any logged-in page must do at the least — read the signed session cookie, render a template with a
few rows — and nothing else. ``bench_gateway.py`` runs it under the gateway's own gunicorn configuration (same
worker class, workers and threads), so the ratio portal / baseline shows what the portal's composition costs.

``GET /login`` puts a session id into the cookie; ``GET /`` renders the page for it (302 to /login without one).
"""
from __future__ import annotations

import secrets

from flask import Flask, redirect, render_template, session
from jinja2 import DictLoader

PAGE = """<!doctype html>
<html lang="hu"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><header><nav><a href="/">Kezdőlap</a> · <a href="/documents">Dokumentumaim</a></nav></header>
<main><h1>Üdvözöljük, {{ user }}!</h1>
<ul>{% for row in rows %}<li><a href="/documents/{{ row.id }}">{{ row.title }}</a> · {{ row.date }}</li>{% endfor %}</ul>
</main></body></html>"""
ROWS = [{"id": f"doc-{n}", "title": f"Dokumentum {n}", "date": f"2026-01-{n + 10:02d}"} for n in range(8)]

app = Flask(__name__)
app.jinja_loader = DictLoader({"page.html": PAGE})  # compiled once and cached, like a template file
app.secret_key = "bench-baseline-secret"


@app.get("/login")
def login():
    session["sid"] = secrets.token_urlsafe(32)
    return redirect("/")


@app.get("/")
def page():
    if "sid" not in session:
        return redirect("/login")
    return render_template("page.html", title="Kezdőlap", user=session["sid"][:8], rows=ROWS)
