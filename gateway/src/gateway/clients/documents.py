"""Client of the documents service (list, metadata, streamed content). Port 8103."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from .http import ServiceClient
from .identity import _seg

CHUNK = 64 * 1024


@dataclass
class Content:
    """A document's bytes as a stream: iterate ``chunks`` once, then ``close()`` (returns the connection)."""

    content_type: str
    length: int | None
    sha256: str | None
    chunks: Iterator[bytes]
    close: Callable[[], None]


class DocumentsClient(ServiceClient):
    service = "documents"

    def list(self, customer_id: str, policy_number: str | None = None, doc_type: str | None = None,
             limit: int | None = None, offset: int | None = None, sort: str | None = None,
             order: str | None = None) -> dict:
        """-> ``{"documents": [{document_id, title, doc_type, policy_number, uploaded_at, available_until, expired,
        read, size, content_type, sha256}], "unread": n, "total": n}``, newest first; ``total`` (matching the
        filters, ignoring limit and offset) may be missing from a documents service that predates paging.

        ``offset`` 0 is not sent (the service's default): a service that predates paging rejects the parameter
        (422 InvalidFields), so only the first page depends on nothing new. ``sort``: date | type | policy,
        ``order``: asc | desc (each document also carries its ``delivery`` record)."""
        params = {k: v for k, v in {"policy_number": policy_number, "doc_type": doc_type, "limit": limit,
                                    "offset": offset, "sort": sort, "order": order}.items() if v}
        return self.get_json(f"/internal/customers/{_seg(customer_id)}/documents", params=params)

    def get(self, customer_id: str, document_id: str) -> dict:
        """Metadata; NotFound for unknown ids and for another customer's document alike."""
        return self.get_json(f"/internal/customers/{_seg(customer_id)}/documents/{_seg(document_id)}")

    def open_content(self, customer_id: str, document_id: str, purpose: str = "download") -> Content:
        """Stream the bytes (never buffered whole); Gone when past its 13 months. Marks the document read and writes
        its delivery record (``purpose``: ``view`` in the browser, ``download`` the file)."""
        response = self.request("GET", f"/internal/customers/{_seg(customer_id)}/documents/{_seg(document_id)}/content",
                                params={"purpose": purpose}, stream=True)
        length = response.headers.get("Content-Length")
        return Content(
            # A missing type is not assumed to be a PDF: only what documents names as one is shown inline.
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            length=int(length) if length and length.isdigit() else None,
            sha256=response.headers.get("X-Document-SHA256"),
            chunks=response.iter_content(CHUNK),
            close=response.close,
        )
