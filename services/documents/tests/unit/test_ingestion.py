import hashlib

import pytest

from documents.domain import commands
from documents.service_layer import handlers
from documents.service_layer.unit_of_work import FakeUnitOfWork

from .conftest import NOW, PDF, WHERE, owner, upload


def ingest(cmd, uow, store):
    return handlers.ingest_document(cmd, uow, store, WHERE, NOW)


def test_stores_under_the_customer_prefix_announces_and_empties_the_inbox(uow, store):
    cmd = upload(store)
    doc = ingest(cmd, uow, store)
    key = f"customers/C-1/{cmd.document_id}.pdf"
    assert store.data("portal-documents", key) == PDF
    assert store.data("portal-inbox", cmd.key) is None
    assert uow.documents.get(cmd.document_id).key == key
    assert doc.available_until.isoformat() == "2027-12-21T12:00:00+00:00"
    assert [name for name, _ in uow.published] == ["document.available"]
    assert uow.published[0][1]["document_id"] == cmd.document_id


def test_inbox_copy_is_deleted_only_after_the_commit(uow, store):
    cmd = upload(store)
    order = []
    original_delete, original_commit = store.delete_many, uow._commit
    store.delete_many = lambda b, k: (order.append("delete"), original_delete(b, k))
    uow._commit = lambda: (order.append("commit"), original_commit())
    ingest(cmd, uow, store)
    assert order == ["commit", "delete"]


def test_a_failed_inbox_delete_leaves_the_document_safe_and_a_duplicate_retries_it(uow, store):
    cmd = upload(store)
    store.fail_deletes = True
    assert ingest(cmd, uow, store) is not None
    assert store.data("portal-inbox", cmd.key) == PDF  # left over
    store.fail_deletes = False
    assert ingest(cmd, uow, store) is None  # duplicate: no-op …
    assert store.data("portal-inbox", cmd.key) is None  # … that cleans up the left-over
    assert len(uow.documents.documents) == 1
    assert len(uow.published) == 1


def test_duplicate_document_id_is_a_no_op(uow, store):
    cmd = upload(store)
    ingest(cmd, uow, store)
    calls = len(store.calls)
    assert ingest(cmd, uow, store) is None
    assert len(uow.published) == 1
    assert not [c for c in store.calls[calls:] if c[0] in ("copy", "head")]


@pytest.mark.parametrize("change", ["content", "size"])
def test_a_reused_document_id_with_other_content_is_a_conflict_not_a_duplicate(uow, store, change):
    first = upload(store)
    ingest(first, uow, store)
    data = bytes(reversed(PDF)) if change == "content" else PDF + b"\n"  # same size / other size
    again = upload(store, data, document_id=first.document_id)
    calls = len(store.calls)
    with pytest.raises(handlers.Rejected) as exc:
        ingest(again, uow, store)
    assert exc.value.reason == "conflicting_duplicate"
    assert str(exc.value).startswith(f"conflicting duplicate: document {first.document_id} is already stored "
                                     f"with sha256 {first.sha256} ({first.size} bytes); this upload has sha256 "
                                     f"{again.sha256} ({again.size} bytes)")
    assert store.data("portal-inbox", again.key) == data  # not deleted: nothing is lost
    assert store.data("portal-documents", f"customers/C-1/{first.document_id}.pdf") == PDF  # untouched
    assert [c[0] for c in store.calls[calls:]] == []  # decided from the database alone
    assert len(uow.published) == 1


def test_counters_move_only_when_the_transaction_commits(uow, store):
    from prometheus_client import REGISTRY

    def count():
        return (REGISTRY.get_sample_value("portal_documents_ingested_total", {"doc_type": "premium_notice"}) or 0,
                REGISTRY.get_sample_value("portal_documents_duplicate_total") or 0)

    ingested, duplicates = count()
    cmd = upload(store)
    original_commit = uow._commit
    uow._commit = lambda: (_ for _ in ()).throw(RuntimeError("commit failed"))
    with pytest.raises(RuntimeError):
        ingest(cmd, uow, store)
    assert count() == (ingested, duplicates) and uow.documents.get(cmd.document_id) is None
    uow._commit = original_commit
    ingest(cmd, uow, store)
    assert count() == (ingested + 1, duplicates)
    ingest(cmd, uow, store)
    assert count() == (ingested + 1, duplicates + 1)


def test_a_rejection_after_the_row_was_written_leaves_no_row(uow, store):
    store.stored_checksums = False  # found only by the copy's checksum, after the row was flushed
    cmd = upload(store, sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(handlers.Rejected):
        ingest(cmd, uow, store)
    assert uow.documents.get(cmd.document_id) is None and uow.published == []
    good = upload(store)
    ingest(good, uow, store)
    assert [p["document_id"] for _, p in uow.published] == [good.document_id]  # nothing of the rejected one


def test_uses_the_stored_checksum_without_reading_the_object(uow, store):
    ingest(upload(store), uow, store)
    assert [c[0] for c in store.calls] == ["head", "copy", "read_prefix", "delete_many"]


def test_without_a_stored_checksum_the_copy_checksum_verifies(uow, store):
    ingest(upload(store, checksum=False), uow, store)
    assert "sha256_of" not in [c[0] for c in store.calls]


def test_without_any_checksum_support_the_object_is_hashed(uow, store):
    store.stored_checksums = store.copy_checksums = False
    assert ingest(upload(store), uow, store) is not None
    assert "sha256_of" in [c[0] for c in store.calls]


@pytest.mark.parametrize("checksum_support", [(True, True), (False, True), (False, False)])
def test_checksum_mismatch_is_rejected_and_leaves_nothing_behind(uow, store, checksum_support):
    store.stored_checksums, store.copy_checksums = checksum_support
    cmd = upload(store, sha256=hashlib.sha256(b"something else").hexdigest())
    with pytest.raises(handlers.Rejected) as exc:
        ingest(cmd, uow, store)
    assert exc.value.reason == "sha256_mismatch" and str(exc.value).startswith("sha256 mismatch:")
    assert store.data("portal-inbox", cmd.key) == PDF  # kept for the operator
    assert not [k for (b, k) in store.objects if b == "portal-documents"]
    assert not uow.committed and uow.published == []


def test_size_mismatch_is_rejected(uow, store):
    with pytest.raises(handlers.Rejected) as exc:
        ingest(upload(store, size=len(PDF) + 1), uow, store)
    assert exc.value.reason == "size_mismatch" and "size mismatch" in str(exc.value)


def test_missing_object_is_rejected(uow, store):
    cmd = upload(store)
    store.objects.clear()
    with pytest.raises(handlers.Rejected) as exc:
        ingest(cmd, uow, store)
    assert exc.value.reason == "missing_object" and cmd.key in str(exc.value)


def test_unknown_policy_is_retryable_and_checked_before_touching_s3(uow, store):
    with pytest.raises(handlers.PolicyNotKnownYet) as exc:
        ingest(upload(store, policy_number="KGFB-404"), uow, store)
    assert not isinstance(exc.value, handlers.Rejected)  # not permanent: the shared consumer retries it
    assert exc.value.reason == "unknown_policy" and str(exc.value).startswith("unknown policy: KGFB-404")
    assert not [c for c in store.calls if c[0] in ("head", "copy")]


def test_policy_of_another_customer_is_retryable_too(uow, store):
    with pytest.raises(handlers.PolicyNotKnownYet) as exc:
        ingest(upload(store, customer_id="C-2"), uow, store)
    assert exc.value.reason == "policy_customer_mismatch"
    assert str(exc.value).startswith("unknown policy:") and "another customer" in str(exc.value)


def test_a_document_whose_policy_arrives_late_is_stored_on_a_retry(store):
    """The race: the document is handled before the batch holding its brand-new policy has committed."""
    uow = FakeUnitOfWork(store=store)
    cmd = upload(store, policy_number="KGFB-NEW", customer_id="C-NEW")
    with pytest.raises(handlers.PolicyNotKnownYet):
        ingest(cmd, uow, store)
    assert store.data("portal-inbox", cmd.key) == PDF and uow.published == []
    handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-NEW", "C-NEW", NOW), uow)  # the late policy
    doc = ingest(cmd, uow, store)  # the consumer's retry
    assert doc is not None and doc.customer_id == "C-NEW"
    assert store.data("portal-documents", f"customers/C-NEW/{cmd.document_id}.pdf") == PDF
    assert [name for name, _ in uow.published] == ["document.available"]


def test_only_the_inbox_bucket_is_accepted(uow, store):
    cmd = upload(store)
    store.put("portal-documents", "customers/C-9/x.pdf", PDF)
    evil = commands.IngestDocument(**{**cmd.__dict__, "bucket": "portal-documents", "key": "customers/C-9/x.pdf"})
    with pytest.raises(handlers.Rejected) as exc:
        ingest(evil, uow, store)
    assert exc.value.reason == "wrong_bucket"
    assert store.data("portal-documents", "customers/C-9/x.pdf") == PDF


def test_documents_are_kept_for_customers_who_have_not_registered(store):
    uow = FakeUnitOfWork(owners=[owner(customer_id="C-new")], store=store)
    assert ingest(upload(store, customer_id="C-new"), uow, store) is not None


def test_size_known_from_a_listing_needs_only_the_copy(uow, store):
    store.listing = True
    ingest(upload(store, checksum=False), uow, store)
    assert [c[0] for c in store.calls] == ["listed_size", "copy", "read_prefix", "delete_many"]


def test_a_listing_never_rejects_on_its_own(uow, store):
    store.listing = True
    with pytest.raises(handlers.Rejected) as exc:
        ingest(upload(store, size=len(PDF) + 1), uow, store)
    assert exc.value.reason == "size_mismatch"
    assert [c[0] for c in store.calls] == ["listed_size", "head"]  # S3 itself confirmed it


def test_a_listing_does_not_skip_the_checksum(uow, store):
    store.listing = True
    cmd = upload(store, checksum=False, sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(handlers.Rejected) as exc:
        ingest(cmd, uow, store)
    assert exc.value.reason == "sha256_mismatch"
    assert not [k for (b, k) in store.objects if b == "portal-documents"]


SVG_WITH_SCRIPT = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="fetch(\'/account\')">'
                   b'<script>alert(document.cookie)</script></svg>')


@pytest.mark.parametrize("data", [SVG_WITH_SCRIPT, b"<html><script>alert(1)</script></html>", b"MZ\x90\x00exe",
                                  b" %PDF-1.4 leading junk", b"%PDF", b"%pdf-1.7 lower case"])
def test_anything_but_a_pdf_is_rejected_and_leaves_nothing_behind(uow, store, data):
    cmd = upload(store, data)  # the event claims application/pdf and the checksums match: only the bytes tell
    with pytest.raises(handlers.Rejected) as exc:
        ingest(cmd, uow, store)
    assert exc.value.reason == "not_pdf" and str(exc.value).startswith("not a PDF:")
    assert "%PDF-" in str(exc.value)  # the dead letter says what was expected
    assert store.data("portal-inbox", cmd.key) == data  # kept for the operator
    assert not [k for (b, k) in store.objects if b == "portal-documents"]
    assert not uow.committed and uow.published == [] and uow.documents.get(cmd.document_id) is None


def test_a_document_already_past_its_13_months_is_rejected_before_anything_is_stored(uow, store):
    from datetime import timedelta, timezone

    from documents.domain.model import BUDAPEST, add_months
    # 13 Budapest calendar months before now (21 Nov 13:00 CET): 21 Oct 13:00 CEST, 11:00 UTC
    uploaded_at = add_months(NOW.astimezone(BUDAPEST), -13).astimezone(timezone.utc)
    cmd = upload(store, uploaded_at=uploaded_at)  # its window ends exactly now
    with pytest.raises(handlers.Rejected) as exc:
        ingest(cmd, uow, store)
    assert exc.value.reason == "expired_on_arrival"
    assert str(exc.value) == (f"expired on arrival: document {cmd.document_id} was uploaded at 2025-10-21T11:00:00+00:00; "
                              "its 13 months ended at 2026-11-21T12:00:00+00:00, before it arrived")
    assert uow.documents.get(cmd.document_id) is None and uow.published == []
    assert store.data("portal-inbox", cmd.key) == PDF  # kept for the operator
    assert [k for (b, k) in store.objects if b == "portal-documents"] == []
    # one second younger: still inside its window, stored
    ok = upload(store, uploaded_at=uploaded_at + timedelta(seconds=1))
    assert ingest(ok, uow, store) is not None


def test_a_document_uploaded_later_than_it_arrived_is_rejected_beyond_five_minutes_of_clock_difference(uow, store):
    from datetime import timedelta

    late = upload(store, uploaded_at=NOW + timedelta(minutes=5, seconds=1))
    with pytest.raises(handlers.Rejected) as exc:
        ingest(late, uow, store)
    assert exc.value.reason == "uploaded_in_future"
    assert str(exc.value) == (f"uploaded in the future: document {late.document_id} says it was uploaded at "
                              f"{(NOW + timedelta(minutes=5, seconds=1)).isoformat()}, after it arrived at "
                              f"{NOW.isoformat()} (more than 5 minutes of clock difference)")
    assert uow.documents.get(late.document_id) is None and uow.published == []
    assert store.data("portal-inbox", late.key) == PDF  # kept for the operator
    # within the clocks' difference: stored, its window counted from the time it gives
    skewed = upload(store, uploaded_at=NOW + timedelta(minutes=5))
    doc = ingest(skewed, uow, store)
    assert doc is not None and doc.uploaded_at == NOW + timedelta(minutes=5)
    # the dead letter replayed after that instant is stored
    assert handlers.ingest_document(late, uow, store, WHERE, NOW + timedelta(minutes=6)) is not None
