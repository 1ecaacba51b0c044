from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Response, g, render_template, request, stream_with_context, url_for

from .. import labels
from ..i18n import translate
from ..labels import _l
from ..auth import login_required
from ..clients import clients
from ..clients.http import Gone, InvalidFields, NotFound, ServiceUnavailable
from . import bp

UUIDISH = re.compile(r"^[A-Za-z0-9-]{1,64}$")
PAGE_SIZE = 20
SERVICE_MAX_LIMIT = 500  # the documents API's largest ``limit``
MAX_PAGE = 10_000


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


def _page_number() -> int:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    return max(1, min(page, MAX_PAGE))


#: The page's sort choices -> the documents API's (sort, order).
SORTS = {"newest": ("date", "desc"), "oldest": ("date", "asc"), "type": ("type", "asc"), "policy": ("policy", "asc")}


def _sort_choice() -> str:
    choice = request.args.get("sort") or "newest"
    return choice if choice in SORTS else "newest"


def _documents_page(customer_id: str, policy_number: str | None, doc_type: str | None, page: int,
                    sort: str = "newest") -> dict:
    """One page of ``PAGE_SIZE`` documents, newest first: ``{"documents", "unread", "total", "has_older"}``.

    Asks for one document more than a page (``limit`` = 21) to know whether an older page exists. ``total`` is
    None when the documents service does not send it: such a service predates paging and either rejects
    ``offset`` (422) or may ignore it, so a later page is then cut out of the first ``offset + 21`` documents here
    (best effort up to the service's largest limit, 500).
    """
    documents = clients().documents
    offset = (page - 1) * PAGE_SIZE
    listing = None
    api_sort, api_order = SORTS[sort] if sort != "newest" else (None, None)  # the default sends nothing new
    try:
        listing = documents.list(customer_id, policy_number=policy_number, doc_type=doc_type,
                                 limit=PAGE_SIZE + 1, offset=offset, sort=api_sort, order=api_order)
    except InvalidFields:
        if not offset:
            raise
    total = listing.get("total") if listing is not None else None
    if isinstance(total, int):
        docs = listing.get("documents", [])[:PAGE_SIZE]
        return {"documents": docs, "unread": listing.get("unread", 0), "total": total,
                "has_older": offset + PAGE_SIZE < total}
    if offset:
        listing = documents.list(customer_id, policy_number=policy_number, doc_type=doc_type,
                                 limit=min(offset + PAGE_SIZE + 1, SERVICE_MAX_LIMIT))
    docs = listing.get("documents", [])
    return {"documents": docs[offset:offset + PAGE_SIZE], "unread": listing.get("unread", 0), "total": None,
            "has_older": len(docs) > offset + PAGE_SIZE}


@bp.get("/documents")
@login_required
def index():
    customer_id = g.user["customer_id"]
    policy_number = request.args.get("policy_number") or None
    doc_type = request.args.get("doc_type") or None
    if doc_type not in labels.DOC_TYPES:
        doc_type = None
    page = _page_number()
    sort = _sort_choice()
    try:
        listing = _documents_page(customer_id, policy_number, doc_type, page, sort)
    except NotFound:
        # a closed registration: nothing is reachable
        listing = {"documents": [], "unread": 0, "total": 0, "has_older": False}
    try:
        policy_numbers = [p["policy_number"] for p in clients().policies.customer_policies(customer_id)]
    except ServiceUnavailable:
        policy_numbers = sorted({d["policy_number"] for d in listing["documents"]})

    def page_url(number: int) -> str:
        # The filters stay in the paging links; page 1 is the plain address.
        return url_for("documents.index", policy_number=policy_number, doc_type=doc_type,
                       sort=sort if sort != "newest" else None, page=number if number > 1 else None)

    first = (page - 1) * PAGE_SIZE + 1
    return render_template("documents/index.html", documents=listing["documents"], unread=listing["unread"],
                           policy_numbers=policy_numbers, selected_policy=policy_number, selected_type=doc_type,
                           sort=sort, sorts={code: translate(text) for code, text in SORT_LABELS.items()},
                           page=page, total=listing["total"], first=first,
                           last=first + len(listing["documents"]) - 1,
                           newer_url=page_url(page - 1) if page > 1 else None,
                           older_url=page_url(page + 1) if listing["has_older"] else None)


PDF = "application/pdf"
DOCUMENT_CSP = "sandbox; default-src 'none'; frame-ancestors 'self'"


#: The sort choices' words (Hungarian; ``_l`` marks them for ``pybabel extract``), in the page's language from the
#: request's catalogue (``i18n.translate``) — lazy strings looked the request's catalogue up again on every use.
SORT_LABELS = {"newest": _l("Legújabb elöl"), "oldest": _l("Legrégebbi elöl"), "type": _l("Típus szerint"),
               "policy": _l("Szerződés szerint")}


def _stream(document_id: str, disposition: str):
    if not UUIDISH.match(document_id):
        raise NotFound("documents", 404, {})  # the same 404 page as any unknown document
    customer_id = g.user["customer_id"]
    documents = clients().documents
    document = documents.get(customer_id, document_id)  # NotFound (unknown or another customer's) -> 404 page
    if document.get("expired"):
        return _not_available(document)
    if request.method == "HEAD":
        # The headers only, from the listing's metadata: nothing is opened, so the document is not marked read and
        # no download is counted in its delivery record (a link checker's HEAD is not the customer's download).
        return _document_headers(Response(), document.get("content_type"), document.get("size"),
                                 document.get("sha256"), document, disposition)
    try:
        content = documents.open_content(customer_id, document_id,
                                         purpose="view" if disposition == "inline" else "download")
    except Gone:
        return _not_available(document)

    def generate():
        # Chunk by chunk from the documents service to the browser: the file is never held whole in memory.
        try:
            yield from content.chunks
        finally:
            content.close()

    return _document_headers(Response(stream_with_context(generate()), direct_passthrough=True),
                             content.content_type, content.length, content.sha256, document, disposition)


def _document_headers(response: Response, content_type: str | None, length: int | None, sha256: str | None,
                      document: dict, disposition: str) -> Response:
    is_pdf = (content_type or "").split(";")[0].strip().lower() == PDF
    if not is_pdf:
        disposition = "attachment"  # nothing but a PDF is ever shown inline, whatever the stored type says
    response.mimetype = PDF if is_pdf else "application/octet-stream"
    if length is not None:
        response.headers["Content-Length"] = str(length)
    response.headers["Content-Disposition"] = content_disposition(disposition, document.get("title", ""))
    if sha256:
        response.headers["X-Document-SHA256"] = sha256
    response.headers["Cache-Control"] = "no-store"
    # Rendered in a sandbox (no scripts, an opaque origin) even if a browser took it for something active; framed
    # by our own print page only.
    response.headers["Content-Security-Policy"] = DOCUMENT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
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


# Download all (or the selected) as one ZIP ----------------------------------------------------------------------------
ZIP_MAX = 500  # documents in one archive (13 months of documents of one customer stay far below)


def _all_documents(customer_id: str, policy_number: str | None, doc_type: str | None) -> list[dict]:
    """Every document matching the page's filters (paged through the documents API)."""
    documents, found, offset = clients().documents, [], 0
    while len(found) < ZIP_MAX:
        listing = documents.list(customer_id, policy_number=policy_number, doc_type=doc_type, limit=100,
                                 offset=offset or None)
        batch = listing.get("documents", [])
        found += batch
        offset += len(batch)
        if not batch or offset >= (listing.get("total") or 0):
            break
    return found[:ZIP_MAX]


def zip_name(document: dict, taken: set[str]) -> str:
    """``2026-11-21 Kötvény – KGFB-500001.pdf``: the day it arrived and its title (path characters removed); the
    policy number is added when the title lacks it; a number keeps two equal names apart."""
    title = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]+', " ", document.get("title") or "dokumentum").strip() or "dokumentum"
    policy = document.get("policy_number") or ""
    if policy and policy not in title:
        title = f"{title} – {policy}"
    base = f"{(document.get('uploaded_at') or '')[:10]} {title}".strip()[:150]
    name, n = f"{base}.pdf", 2
    while name.lower() in taken:
        name, n = f"{base} ({n}).pdf", n + 1
    taken.add(name.lower())
    return name


@bp.get("/documents/zip")
@login_required
def download_zip():
    """``?id=…&id=…`` the selected documents, else every document matching ``policy_number`` / ``doc_type``; expired
    ones are left out. Streamed: each document is fetched from the documents service only when the archive reaches
    it (stored, not deflated: PDFs are compressed already), so ``Content-Length`` is known in advance."""
    from zipstream import ZIP_STORED, ZipStream

    customer_id = g.user["customer_id"]
    ids = request.args.getlist("id")
    if ids:
        if len(ids) > ZIP_MAX or not all(UUIDISH.match(i) for i in ids):
            raise NotFound("documents", 404, {})
        chosen = [clients().documents.get(customer_id, i) for i in dict.fromkeys(ids)]  # another's id: 404
    else:
        doc_type = request.args.get("doc_type") or None
        chosen = _all_documents(customer_id, request.args.get("policy_number") or None,
                                doc_type if doc_type in labels.DOC_TYPES else None)
    chosen = [d for d in chosen if not d.get("expired")]
    if not chosen:
        return render_template("documents/zip_empty.html"), 404
    archive, taken = ZipStream(compress_type=ZIP_STORED, sized=True), set()
    for document in chosen:
        archive.add(_document_chunks(customer_id, document["document_id"]), zip_name(document, taken),
                    size=document["size"])
    day = datetime.now(ZoneInfo("Europe/Budapest")).date().isoformat()
    response = Response(stream_with_context(iter(archive)), mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Length"] = str(len(archive))
    response.headers["Content-Disposition"] = content_disposition("attachment", f"dokumentumok-{day}", ".zip")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _document_chunks(customer_id: str, document_id: str):
    """Opened only when the archive reaches this document; counted as downloaded in its delivery record."""
    content = clients().documents.open_content(customer_id, document_id, purpose="download")
    try:
        yield from content.chunks
    finally:
        content.close()
