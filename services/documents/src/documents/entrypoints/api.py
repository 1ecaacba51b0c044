"""Internal HTTP API of the documents service (only the gateway calls it). Every route needs X-Service-Token.

A customer whose registration is closed gets 404 everywhere; another customer's document_id gets the same 404 as a
document that does not exist.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, request

from portal_common.db import ping
from portal_common.web import service_app

from .. import SERVICE
from ..adapters.repository import DocumentFilter
from ..bootstrap import Wiring, bootstrap
from ..domain import model
from ..service_layer import handlers
from . import schemas

bp = Blueprint("documents", __name__, url_prefix="/internal")


def _wiring() -> Wiring:
    return current_app.extensions["documents"]


def _iso(value):
    return None if value is None else value.isoformat()


def document_json(doc, now) -> dict:
    """A document (``model.Document`` or a ``model.DocumentRow``) as :class:`schemas.DocumentOutSchema` describes it.

    Built by hand, not by the schema's ``dump``: every list answer builds up to 21 of these, and marshmallow's
    per-field machinery cost more than the query. The schema stays the contract (the OpenAPI document is made from
    it) and a unit test holds this function to it (``test_document_json_is_what_the_schema_dumps``)."""
    return {
        "document_id": doc.document_id, "title": doc.title, "doc_type": doc.doc_type,
        "policy_number": doc.policy_number, "uploaded_at": doc.uploaded_at.isoformat(),
        "available_until": doc.available_until.isoformat(), "expired": doc.expired(now), "read": doc.read,
        "size": doc.size, "content_type": doc.content_type, "sha256": doc.sha256,
        "delivery": {
            "arrived_at": _iso(doc.stored_at), "announced_at": _iso(doc.announced_at),
            "first_opened_at": _iso(doc.first_opened_at), "first_downloaded_at": _iso(doc.first_downloaded_at),
            "last_downloaded_at": _iso(doc.last_downloaded_at), "download_count": doc.download_count,
            "reminder_sent_at": _iso(doc.reminder_sent_at)},
    }


def _not_found():
    abort(404, description="no such document")


_LIST_QUERY = schemas.DocumentListQuerySchema()  # one instance: building a schema costs more than a load


@bp.get("/customers/<customer_id>/documents")
def list_documents(customer_id: str):
    """One page of the customer's documents, newest first (or ``sort=type|policy``, ``order=asc|desc``), with the
    unread count and the total; each with its delivery record (``delivery``).

    ``GET /internal/customers/C-1001/documents?policy_number=KGFB-1001&doc_type=premium_notice&limit=20&offset=0``
    -> ``{"documents": [{"document_id": …, "title": …, "expired": false, "read": false, …}], "unread": 1,
    "total": 1}``. ``unread`` and ``total`` count every document matching the filters, ignoring limit and offset.
    Empty query values are ignored. 404 when the customer's registration is closed.
    """
    args = _LIST_QUERY.load({k: v for k, v in request.args.items() if v.strip() != ""})
    w = _wiring()
    now = w.clock()
    descending = (args["order"] or ("desc" if args["sort"] == "date" else "asc")) == "desc"
    where = DocumentFilter(customer_id, args["policy_number"], args["doc_type"], args["sort"], descending)
    try:
        page = w.bus.handle(handlers.list_documents, where, args["limit"], now=now, offset=args["offset"])
    except handlers.NotFound:
        _not_found()
    return jsonify(documents=[document_json(d, now) for d in page.documents], unread=page.unread, total=page.total)


@bp.get("/customers/<customer_id>/documents/<document_id>")
def get_document(customer_id: str, document_id: str):
    """One document's metadata (also when expired: ``"expired": true``). 404 when not the customer's."""
    w = _wiring()
    try:
        doc = w.bus.handle(handlers.get_document, customer_id, document_id)
    except handlers.NotFound:
        _not_found()
    return jsonify(document_json(doc, w.clock()))


@bp.get("/customers/<customer_id>/documents/<document_id>/content")
def document_content(customer_id: str, document_id: str):
    """The original bytes, streamed from S3 chunk by chunk (never the whole file in memory), with
    ``Content-Type``, ``Content-Length`` and ``X-Document-SHA256``; marks the document read and writes the delivery
    record (``?purpose=view`` opened in the browser, else downloaded).
    404 when not the customer's; 410 ``{"error": "expired", "available_until": …}`` after its 13 months."""
    w = _wiring()
    try:
        purpose = schemas.ContentQuerySchema().load(request.args)["purpose"]
        doc, stored = w.bus.handle(handlers.open_content, customer_id, document_id, purpose)
    except (handlers.NotFound, handlers.ContentMissing):
        _not_found()
    except handlers.Expired as exc:
        return jsonify(error="expired", message="the document is no longer available",
                       available_until=exc.document.available_until.isoformat()), 410

    def generate():
        try:
            yield from stored.chunks()
        finally:
            stored.close()

    response = Response(generate(), content_type=served_type(doc.content_type), direct_passthrough=True)
    response.headers["Content-Length"] = str(stored.size)
    response.headers["X-Document-SHA256"] = doc.sha256
    response.headers.update(DOCUMENT_HEADERS)
    return response


#: On every document response: never sniffed into something active, never cached, and if a browser ever renders it,
#: in a sandbox (no scripts, a unique origin). The gateway decides inline vs attachment for its own pages.
DOCUMENT_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
                    "Content-Disposition": "attachment", "Cache-Control": "no-store"}


def served_type(stored: str | None) -> str:
    """Only a PDF is named as one; anything older that is not (stored before the PDF check) is opaque bytes."""
    return model.PDF if stored == model.PDF else "application/octet-stream"


@bp.post("/customers/<customer_id>/documents/<document_id>/read")
def mark_read(customer_id: str, document_id: str):
    """Mark a document read (e.g. opened through a presigned link). 204; 404 when not the customer's."""
    w = _wiring()
    try:
        w.bus.handle(handlers.mark_read, customer_id, document_id)
    except handlers.NotFound:
        _not_found()
    return "", 204


@bp.get("/customers/<customer_id>/delivery-records")
def delivery_records(customer_id: str):
    """For operators ("did the customer get it?"): every stored document of the customer with its delivery record,
    whatever the registration's state. ``{"customer_id": "C-1001", "documents": [{"document_id", "title",
    "policy_number", "doc_type", "uploaded_at", "available_until", "expired", "delivery": {"arrived_at",
    "announced_at", "first_opened_at", "first_downloaded_at", "last_downloaded_at", "download_count",
    "reminder_sent_at"}}]}``"""
    w = _wiring()
    now = w.clock()
    docs = handlers.delivery_records(w.uow(), customer_id)
    return jsonify(customer_id=customer_id, documents=[document_json(d, now) for d in docs])


def create_app(database_url: str | None = None, *, store=None, clock=None, settings=None):
    wiring = bootstrap(database_url, store=store, clock=clock, settings=settings)
    wiring.ensure_storage()
    app = service_app(SERVICE, checks={"database": lambda: ping(wiring.engine), "object_store": wiring.store.ping},
                      import_name=__name__)
    app.extensions["documents"] = wiring
    app.register_blueprint(bp)
    return app
