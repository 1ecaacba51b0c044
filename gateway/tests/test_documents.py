"""Documents list, streamed download, inline view, print page, 404 for others' documents, 410 after 13 months;
the home page composed from services that may be down."""
from __future__ import annotations

import hashlib
import re

import pytest
from urllib.parse import quote

from .conftest import text

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def test_download_streams_the_exact_bytes_as_attachment(logged_in, fakes):
    doc = fakes.documents.add_document(title="Díjértesítő 2026/1", content=PDF)
    response = logged_in.get(f"/documents/{doc}/download")
    assert response.status_code == 200
    assert response.is_streamed  # passed through chunk by chunk, never buffered whole
    body = response.get_data()
    assert body == PDF and hashlib.sha256(body).hexdigest() == response.headers["X-Document-SHA256"]
    assert fakes.documents.chunks_served > 100
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="Dijertesito 2026 1.pdf"' in disposition  # ASCII fallback, no path separator
    assert "filename*=UTF-8''" + quote("Díjértesítő 2026 1.pdf", safe="") in disposition
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Length"] == str(len(PDF))
    assert response.headers["Cache-Control"] == "no-store"


def test_view_is_inline_and_frameable_by_us_only(logged_in, fakes):
    doc = fakes.documents.add_document(title="Kötvény", content=PDF)
    response = logged_in.get(f"/documents/{doc}/view")
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]
    assert response.get_data() == PDF
    html = text(logged_in.get(f"/documents/{doc}/print"))
    assert f'src="/documents/{doc}/view"' in html and 'id="print-button"' in html


def _normalise(html: str, document_id: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token"', html)
    return html.replace(document_id, "ID")


def test_another_customers_document_gets_the_same_404_as_an_unknown_one(logged_in, fakes):
    theirs = fakes.documents.add_document(customer_id="C-OTHER", title="Not yours", content=PDF)
    unknown = "00000000-0000-0000-0000-000000000000"
    for suffix in ("download", "view", "print"):
        a = logged_in.get(f"/documents/{theirs}/{suffix}")
        b = logged_in.get(f"/documents/{unknown}/{suffix}")
        assert a.status_code == b.status_code == 404
        # Only the URL (in the language links) and the per-render CSRF token differ.
        assert _normalise(text(a), theirs) == _normalise(text(b), unknown)
        assert "Not yours" not in text(a)


def test_expired_document_gives_a_clear_410_page(logged_in, fakes):
    doc = fakes.documents.add_document(title="Régi levél", content=PDF, expired=True)
    for suffix in ("download", "view", "print"):
        response = logged_in.get(f"/documents/{doc}/{suffix}")
        assert response.status_code == 410
        assert "A dokumentum már nem érhető el" in text(response) and "13 hónapig" in text(response)


def test_list_newest_first_with_markers_filters_and_reminder(logged_in, fakes):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    old = fakes.documents.add_document(title="Régi", uploaded_at=now - timedelta(days=500), expired=True)
    read = fakes.documents.add_document(title="Olvasott", uploaded_at=now - timedelta(days=20), read=True,
                                        doc_type="premium_notice")
    new = fakes.documents.add_document(title="Friss", uploaded_at=now - timedelta(days=1))
    html = text(logged_in.get("/documents"))
    assert html.index("Friss") < html.index("Olvasott") < html.index("Régi")
    assert 'id="original-notice"' in html and "eredeti példánya" in html and "13 hónapig" in html
    row_new = html[html.index(f'id="doc-{new}"'):html.index(f'id="doc-{read}"')]
    assert "badge--new" in row_new and f"/documents/{new}/download" in row_new
    row_old = html[html.index(f'id="doc-{old}"'):]
    assert "Lejárt" in row_old and f"/documents/{old}/download" not in html
    assert 'id="unread-count">1 olvasatlan' in html
    filtered = text(logged_in.get("/documents?doc_type=premium_notice&policy_number=KGFB-1"))
    assert "Olvasott" in filtered and "Friss" not in filtered
    assert ("list", "C-1", "KGFB-1", "premium_notice", 21, 0) in fakes.documents.calls


def test_home_renders_with_policies_service_down(logged_in, fakes):
    fakes.documents.add_document(title="Díjértesítő", content=PDF)
    fakes.policies.down = True
    response = logged_in.get("/home")
    assert response.status_code == 200
    html = text(response)
    assert 'id="partial-notice"' in html and "Szerződései most átmenetileg nem jeleníthetők meg" in html
    assert "Díjértesítő" in html


def test_home_renders_with_documents_service_down(logged_in, fakes):
    fakes.documents.down = True
    html = text(logged_in.get("/home"))
    assert "Dokumentumai most átmenetileg nem jeleníthetők meg" in html
    assert "Kötelező gépjármű-felelősségbiztosítás" in html


def test_home_shows_latest_five_unread_count_and_next_steps(logged_in, fakes):
    for i in range(7):
        fakes.documents.add_document(title=f"Dokumentum {i}", content=PDF)
    fakes.policies.add_policy("HOME-7", customer_id="C-1", product="home", payment_method="cheque", epost=False,
                              enrollable=True)
    html = text(logged_in.get("/home"))
    assert html.count('class="doc-list__item"') == 5
    assert 'id="unread-count">7 olvasatlan' in html
    assert "ePosta igénylése további szerződésekre" in html
    assert ("list", "C-1", None, None, 5, None) in fakes.documents.calls


def test_home_suggests_the_declaration_only_to_a_customer_without_an_active_one(logged_in, fakes):
    hint = "Még nincs érvényes nyilatkozata az elektronikus kapcsolattartásról."
    assert hint in text(logged_in.get("/home"))
    fakes.identity.add_declaration(customer_id="C-1")
    assert hint not in text(logged_in.get("/home"))  # identity said so in the session check of this very page
    fakes.identity.withdraw_declaration("C-1")
    assert hint in text(logged_in.get("/home"))
    assert not [c for c in fakes.identity.calls if c[0] == "get_declaration"]  # no call of its own


def test_documents_page_with_documents_service_down_is_a_503_page(logged_in, fakes):
    fakes.documents.down = True
    response = logged_in.get("/documents")
    assert response.status_code == 503
    assert "A szolgáltatás átmenetileg nem érhető el" in text(response)


def test_policies_page_and_enrolment_with_cheque_switch(logged_in, fakes):
    fakes.policies.add_policy("HOME-7", customer_id="C-1", product="home", payment_method="cheque", epost=False,
                              enrollable=True)
    html = text(logged_in.get("/policies"))
    assert "Lakásbiztosítás" in html and "Csekk" in html and 'href="/policies/HOME-7/epost"' in html
    confirm = text(logged_in.get("/policies/HOME-7/epost"))
    assert 'id="cheque-notice"' in confirm and "banki átutalásra változik" in confirm
    assert not [c for c in fakes.policies.calls if c[0] == "enrol"]  # GET changed nothing
    response = logged_in.post("/policies/HOME-7/epost")
    assert response.headers["Location"].endswith("/policies")
    assert ("enrol", "HOME-7", "C-1") in fakes.policies.calls
    html = text(logged_in.get("/policies"))
    assert "csekkről banki átutalásra változott" in html
    assert logged_in.post("/policies/NOT-MINE/epost").status_code == 404


def _many(fakes, n: int, **kwargs) -> list[str]:
    """``n`` documents, ``Doc 00`` the newest; returns their ids newest first."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    return [fakes.documents.add_document(title=f"Doc {i:02d}", uploaded_at=now - timedelta(hours=i), **kwargs)
            for i in range(n)]


def _titles(html: str) -> list[str]:
    return re.findall(r"<strong>(Doc \d\d)</strong>", html)


def test_documents_are_paged_twenty_at_a_time_newest_first(logged_in, fakes):
    _many(fakes, 45)
    html = text(logged_in.get("/documents"))
    assert _titles(html) == [f"Doc {i:02d}" for i in range(20)]
    assert 'id="newer"' not in html and 'href="/documents?page=2" rel="next" id="older"' in html
    assert "1–20. dokumentum, összesen 45" in html
    assert fakes.documents.calls[-1] == ("list", "C-1", None, None, 21, 0)

    html = text(logged_in.get("/documents?page=2"))
    assert _titles(html) == [f"Doc {i:02d}" for i in range(20, 40)]
    assert 'href="/documents" rel="prev" id="newer"' in html and 'href="/documents?page=3"' in html
    assert "21–40. dokumentum, összesen 45" in html
    assert ("list", "C-1", None, None, 21, 20) in fakes.documents.calls

    html = text(logged_in.get("/documents?page=3"))
    assert _titles(html) == [f"Doc {i:02d}" for i in range(40, 45)]
    assert 'href="/documents?page=2" rel="prev" id="newer"' in html and 'id="older"' not in html
    html = text(logged_in.get("/documents?page=3&lang=en"))
    assert "Documents 41–45 of 45" in html and "Newer documents" in html

    assert _titles(text(logged_in.get("/documents?page=abc"))) == _titles(text(logged_in.get("/documents")))
    html = text(logged_in.get("/documents?page=9&lang=hu"))
    assert not _titles(html) and "Ezen az oldalon már nincs dokumentum." in html and 'id="newer"' in html


def test_exactly_one_page_has_no_paging_links(logged_in, fakes):
    _many(fakes, 20)
    html = text(logged_in.get("/documents"))
    assert len(_titles(html)) == 20 and 'class="pager"' not in html


def test_paging_links_keep_the_filters(logged_in, fakes):
    _many(fakes, 25, policy_number="KGFB-1", doc_type="premium_notice")
    _many(fakes, 3, policy_number="KGFB-1", doc_type="claim_letter")
    html = text(logged_in.get("/documents?policy_number=KGFB-1&doc_type=premium_notice"))
    assert len(_titles(html)) == 20
    older = re.search(r'<a [^>]*href="([^"]+)" rel="next" id="older"', html).group(1).replace("&amp;", "&")
    assert "policy_number=KGFB-1" in older and "doc_type=premium_notice" in older and "page=2" in older
    html = text(logged_in.get(older))
    assert len(_titles(html)) == 5
    newer = re.search(r'<a [^>]*href="([^"]+)" rel="prev" id="newer"', html).group(1).replace("&amp;", "&")
    assert "policy_number=KGFB-1" in newer and "doc_type=premium_notice" in newer and "page=" not in newer
    assert ("list", "C-1", "KGFB-1", "premium_notice", 21, 20) in fakes.documents.calls


def test_paging_works_with_a_documents_service_that_predates_offset_and_total(logged_in, fakes):
    fakes.documents.legacy = True  # rejects offset (422), sends no total
    _many(fakes, 45)
    html = text(logged_in.get("/documents"))
    assert _titles(html) == [f"Doc {i:02d}" for i in range(20)]
    assert 'id="older"' in html and 'id="page-range"' not in html  # no total: no "of N"
    assert fakes.documents.calls[-1] == ("list", "C-1", None, None, 21, 0)  # the real client omits offset 0
    html = text(logged_in.get("/documents?page=2"))
    assert _titles(html) == [f"Doc {i:02d}" for i in range(20, 40)]
    assert 'id="newer"' in html and 'id="older"' in html
    html = text(logged_in.get("/documents?page=3"))
    assert _titles(html) == [f"Doc {i:02d}" for i in range(40, 45)] and 'id="older"' not in html
    # the first page never depends on offset; a later one is cut from the first offset + 21 documents
    assert ("list", "C-1", None, None, 61, None) in fakes.documents.calls


SVG_WITH_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/account")</script></svg>'


def test_a_pdf_is_shown_inline_only_in_a_sandbox_and_never_sniffed(logged_in, fakes):
    doc = fakes.documents.add_document(title="Kötvény", content=PDF)
    for path, disposition in ((f"/documents/{doc}/view", "inline;"), (f"/documents/{doc}/download", "attachment;")):
        response = logged_in.get(path)
        assert response.get_data() == PDF
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"].startswith(disposition)
        csp = [d.strip() for d in response.headers["Content-Security-Policy"].split(";")]
        assert "sandbox" in csp and "frame-ancestors 'self'" in csp  # no scripts, an opaque origin, framed by us
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("stored_type", ["image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", None])
def test_anything_announced_as_another_type_is_never_served_inline(logged_in, fakes, stored_type):
    """Documents ingested before the PDF check (or a misbehaving service) may name another type: the gateway serves
    such bytes only as an opaque download, never as something the browser would render on our origin."""
    doc = fakes.documents.add_document(title="Rajz", content=SVG_WITH_SCRIPT, content_type=stored_type)
    for path in (f"/documents/{doc}/view", f"/documents/{doc}/download"):
        response = logged_in.get(path)
        assert response.get_data() == SVG_WITH_SCRIPT
        assert response.headers["Content-Type"] == "application/octet-stream", path
        assert response.headers["Content-Disposition"].startswith("attachment;"), path
        assert "sandbox" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("what, disposition", [("download", "attachment;"), ("view", "inline;")])
def test_a_head_request_answers_the_headers_and_neither_reads_nor_counts(logged_in, fakes, what, disposition):
    """A link checker's (or a proxy's) HEAD is not the customer's download: the same headers, no bytes, and the
    document stays unread with no download in its delivery record."""
    doc = fakes.documents.add_document(title="Díjértesítő", content=PDF)
    head = logged_in.head(f"/documents/{doc}/{what}")
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Type"] == "application/pdf"
    assert head.headers["Content-Length"] == str(len(PDF))
    assert head.headers["Content-Disposition"].startswith(disposition)
    assert head.headers["X-Document-SHA256"] == hashlib.sha256(PDF).hexdigest()
    assert head.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in head.headers["Content-Security-Policy"]
    stored = fakes.documents.docs[doc]
    assert stored["read"] is False and stored["delivery"]["download_count"] == 0
    assert stored["delivery"]["first_opened_at"] is None
    assert fakes.documents.chunks_served == 0
    logged_in.get(f"/documents/{doc}/{what}").get_data()  # the GET does both
    assert stored["read"] is True
