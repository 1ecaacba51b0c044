"""Documents easy to keep: one ZIP (all or selected) with clear names, sorting, the delivery record."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone

from .conftest import text

T = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def stock(fakes):
    fakes.policies.add_policy("HOME-7", customer_id="C-1", product="home")
    a = fakes.documents.add_document(title="Kötvény – KGFB-1", content=b"%PDF-a" * 1000, policy_number="KGFB-1",
                                     doc_type="policy_schedule", uploaded_at=T - timedelta(days=3))
    b = fakes.documents.add_document(title="Díjértesítő", content=b"%PDF-b" * 700, policy_number="HOME-7",
                                     doc_type="premium_notice", uploaded_at=T - timedelta(days=2))
    c = fakes.documents.add_document(title="Díjértesítő", content=b"%PDF-c" * 500, policy_number="HOME-7",
                                     doc_type="claim_letter", uploaded_at=T - timedelta(days=2) + timedelta(hours=1))
    old = fakes.documents.add_document(title="Régi", expired=True, uploaded_at=T - timedelta(days=500))
    other = fakes.documents.add_document(customer_id="C-2", title="Másé")
    return a, b, c, old, other


def test_download_all_is_one_zip_with_every_available_document_byte_for_byte(logged_in, fakes):
    a, b, c, old, _ = stock(fakes)
    response = logged_in.get("/documents/zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert "attachment" in response.headers["Content-Disposition"] and ".zip" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    names = archive.namelist()
    # newest first; the day it arrived and the title (+ the policy number when the title lacks it); equal names
    # are numbered
    assert names == ["2026-11-19 Díjértesítő – HOME-7.pdf", "2026-11-19 Díjértesítő – HOME-7 (2).pdf",
                     "2026-11-18 Kötvény – KGFB-1.pdf"]
    assert archive.read(names[2]) == fakes.documents.contents[a]
    assert archive.read(names[0]) == fakes.documents.contents[c]
    assert fakes.documents.docs[a]["delivery"]["download_count"] == 1  # recorded as downloaded
    assert fakes.documents.docs[old]["delivery"]["download_count"] == 0


def test_download_selected_and_never_another_customer_s(logged_in, fakes):
    a, b, c, old, other = stock(fakes)
    response = logged_in.get(f"/documents/zip?id={b}&id={a}")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.read(n) for n in archive.namelist()) == sorted(
        [fakes.documents.contents[a], fakes.documents.contents[b]])
    assert logged_in.get(f"/documents/zip?id={other}").status_code == 404
    assert logged_in.get("/documents/zip?id=../../etc").status_code == 404
    assert logged_in.get(f"/documents/zip?id={old}").status_code == 404  # only an expired one: nothing to give


def test_download_all_keeps_the_filters(logged_in, fakes):
    a, b, c, *_ = stock(fakes)
    archive = zipfile.ZipFile(io.BytesIO(logged_in.get("/documents/zip?policy_number=KGFB-1").data))
    assert [archive.read(n) for n in archive.namelist()] == [fakes.documents.contents[a]]


def test_the_zip_needs_a_login(client):
    assert "/login" in client.get("/documents/zip").headers["Location"]


def test_sort_by_type_and_policy_and_the_choice_stays_in_the_links(logged_in, fakes):
    a, b, c, old, _ = stock(fakes)

    html = text(logged_in.get("/documents?sort=type"))
    positions = {d: html.index(f'id="doc-{d}"') for d in (a, b, c)}
    assert positions[c] < positions[a] < positions[b]  # grouped by type: claim_letter, policy_schedule, premium_notice
    html = text(logged_in.get("/documents?sort=policy"))
    assert html.index(f'id="doc-{c}"') < html.index(f'id="doc-{b}"') < html.index(f'id="doc-{a}"')  # HOME-7 first
    html = text(logged_in.get("/documents?sort=oldest"))
    assert html.index(f'id="doc-{old}"') < html.index(f'id="doc-{a}"') < html.index(f'id="doc-{c}"')
    assert '<option value="oldest" selected>' in html
    html = text(logged_in.get("/documents?sort=bogus"))
    assert html.index(f'id="doc-{c}"') < html.index(f'id="doc-{a}"')  # unknown: newest first


def test_each_document_shows_its_delivery_record(logged_in, fakes):
    a, *_ = stock(fakes)
    fakes.documents.docs[a]["delivery"]["announced_at"] = (T - timedelta(days=3, minutes=-1)).isoformat()
    logged_in.get(f"/documents/{a}/view")
    logged_in.get(f"/documents/{a}/download")
    html = text(logged_in.get("/documents"))
    record = html[html.index(f'id="record-{a}"'):]
    record = record[:record.index("</details>")]
    assert "Kézbesítési napló" in record and "még nem ment ki" not in record
    assert "1 alkalommal" in record
    assert fakes.documents.docs[a]["delivery"]["first_opened_at"] is not None
