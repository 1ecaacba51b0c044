from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Response, g, render_template, request, stream_with_context

from .. import labels
from ..auth import login_required
from ..clients import clients
from ..clients.http import Gone, NotFound, ServiceUnavailable
from . import bp

UUIDISH = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def content_disposition(kind: str, title: str, extension: str = ".pdf") -> str:
    """``attachment; filename="Kotveny 2026.pdf"; filename*=UTF-8''K%C3%B6tv%C3%A9ny%202026.pdf`` (RFC 6266/5987):
    an ASCII fallback for old clients, the exact Hungarian title for the rest."""
    name = (title or "dokumentum").strip()
    name = re.sub(r'[\x00-\x1f\x7f/\\"]+', " ", name).strip() or "dokumentum"
    if not name.lower().endswith(extension):
        name += extension
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii") or "document.pdf"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _not_available(document: dict | None = None):
    return render_template("documents/expired.html", document=document), 410


@bp.get("/documents")
@login_required
def index():
    customer_id = g.user["customer_id"]
    policy_number = request.args.get("policy_number") or None
    doc_type = request.args.get("doc_type") or None
    if doc_type not in labels.DOC_TYPES:
        doc_type = None
    try:
        listing = clients().documents.list(customer_id, policy_number=policy_number, doc_type=doc_type)
    except NotFound:
        listing = {"documents": [], "unread": 0}  # a closed registration: nothing is reachable
    try:
        policy_numbers = [p["policy_number"] for p in clients().policies.customer_policies(customer_id)]
    except ServiceUnavailable:
        policy_numbers = sorted({d["policy_number"] for d in listing.get("documents", [])})
    return render_template("documents/index.html", documents=listing.get("documents", []),
                           unread=listing.get("unread", 0), policy_numbers=policy_numbers,
                           selected_policy=policy_number, selected_type=doc_type)


def _stream(document_id: str, disposition: str):
    if not UUIDISH.match(document_id):
        raise NotFound("documents", 404, {})  # the same 404 page as any unknown document
    customer_id = g.user["customer_id"]
    documents = clients().documents
    document = documents.get(customer_id, document_id)  # NotFound (unknown or another customer's) -> 404 page
    if document.get("expired"):
        return _not_available(document)
    try:
        content = documents.open_content(customer_id, document_id)
    except Gone:
        return _not_available(document)

    def generate():
        # Chunk by chunk from the documents service to the browser: the file is never held whole in memory.
        try:
            yield from content.chunks
        finally:
            content.close()

    response = Response(stream_with_context(generate()), mimetype=content.content_type or "application/pdf",
                        direct_passthrough=True)
    if content.length is not None:
        response.headers["Content-Length"] = str(content.length)
    response.headers["Content-Disposition"] = content_disposition(disposition, document.get("title", ""))
    if content.sha256:
        response.headers["X-Document-SHA256"] = content.sha256
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/documents/<document_id>/download")
@login_required
def download(document_id: str):
    return _stream(document_id, "attachment")


@bp.get("/documents/<document_id>/view")
@login_required
def view(document_id: str):
    return _stream(document_id, "inline")


@bp.get("/documents/<document_id>/print")
@login_required
def print_view(document_id: str):
    if not UUIDISH.match(document_id):
        raise NotFound("documents", 404, {})
    document = clients().documents.get(g.user["customer_id"], document_id)
    if document.get("expired"):
        return _not_available(document)
    return render_template("documents/print.html", document=document)
