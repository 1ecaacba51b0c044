from datetime import timedelta

import pytest

from documents.adapters.repository import DocumentFilter
from documents.domain import commands
from documents.service_layer import handlers
from documents.service_layer.unit_of_work import FakeUnitOfWork

from .conftest import NOW, PDF, WHERE, owner, upload


@pytest.fixture
def stocked(store):
    uow = FakeUnitOfWork(owners=[owner(), owner("KGFB-2", "C-2")], store=store)
    fresh = handlers.ingest_document(upload(store), uow, store, WHERE, NOW)
    # stored when it was new (430 days ago); 13 months later it has expired
    old = handlers.ingest_document(upload(store, uploaded_at=NOW - timedelta(days=430)), uow, store, WHERE,
                                   NOW - timedelta(days=430))
    other = handlers.ingest_document(upload(store, policy_number="KGFB-2", customer_id="C-2"), uow, store, WHERE, NOW)
    return uow, fresh, old, other


def test_another_customers_document_is_not_found(stocked, store):
    uow, _fresh, _old, other = stocked
    with pytest.raises(handlers.NotFound):
        handlers.get_document(uow, "C-1", other.document_id)
    with pytest.raises(handlers.NotFound):
        handlers.open_content(uow, store, "C-1", other.document_id, NOW)
    with pytest.raises(handlers.NotFound):
        handlers.get_document(uow, "C-1", "no-such-id")


def test_list_is_newest_first_and_counts_unread_available(stocked):
    uow, fresh, old, _ = stocked
    docs, unread, total = handlers.list_documents(uow, DocumentFilter("C-1"), 1, NOW)
    assert [d.document_id for d in docs] == [fresh.document_id]
    assert unread == 1  # the expired one is not counted, and limit does not cut the count
    assert total == 2  # every matching document, the expired one included
    docs, _, _ = handlers.list_documents(uow, DocumentFilter("C-1"), 10, NOW)
    assert [d.document_id for d in docs] == [fresh.document_id, old.document_id]
    assert docs[1].expired(NOW)


def test_offset_pages_through_in_a_stable_order(stocked):
    uow, fresh, old, _ = stocked
    page = handlers.list_documents(uow, DocumentFilter("C-1"), 1, NOW, offset=1)
    assert [d.document_id for d in page.documents] == [old.document_id] and (page.unread, page.total) == (1, 2)
    assert handlers.list_documents(uow, DocumentFilter("C-1"), 1, NOW, offset=2) == ([], 1, 2)


def test_content_is_410_after_the_window_and_marks_read_before(stocked, store):
    uow, fresh, old, _ = stocked
    with pytest.raises(handlers.Expired):
        handlers.open_content(uow, store, "C-1", old.document_id, NOW)
    doc, stored = handlers.open_content(uow, store, "C-1", fresh.document_id, NOW)
    assert b"".join(stored.chunks()) == PDF and doc.read
    assert handlers.list_documents(uow, DocumentFilter("C-1"), 10, NOW)[1] == 0


def test_closed_registration_hides_everything_until_registering_again(stocked, store):
    uow, fresh, _old, _ = stocked
    handlers.close_customer(commands.CloseCustomer("C-1"), uow, NOW)
    for call in (lambda: handlers.list_documents(uow, DocumentFilter("C-1"), 10, NOW),
                 lambda: handlers.get_document(uow, "C-1", fresh.document_id),
                 lambda: handlers.open_content(uow, store, "C-1", fresh.document_id, NOW),
                 lambda: handlers.mark_read(uow, "C-1", fresh.document_id, NOW)):
        with pytest.raises(handlers.NotFound):
            call()
    handlers.register_customer(commands.RegisterCustomer("C-1"), uow, NOW)
    assert handlers.get_document(uow, "C-1", fresh.document_id).document_id == fresh.document_id


class Message:  # what the consumer hands a handler that asks for ``message``
    def __init__(self, occurred_at):
        self.occurred_at = occurred_at


def test_a_late_account_closed_of_the_old_registration_does_not_hide_the_new_ones_documents(stocked):
    uow, fresh, _old, _ = stocked
    closed_at, reactivated_at = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    # The re-registration's account.activated is applied first; the closing of the old account arrives late.
    handlers.register_customer(commands.RegisterCustomer("C-1"), uow, NOW, message=Message(reactivated_at))
    handlers.close_customer(commands.CloseCustomer("C-1", closed_at), uow, NOW, message=Message(closed_at))
    assert handlers.get_document(uow, "C-1", fresh.document_id).document_id == fresh.document_id
    # … and a late account.activated of the old registration does not reopen a later closing.
    handlers.close_customer(commands.CloseCustomer("C-1", NOW), uow, NOW, message=Message(NOW))
    handlers.register_customer(commands.RegisterCustomer("C-1"), uow, NOW, message=Message(reactivated_at))
    with pytest.raises(handlers.NotFound):
        handlers.get_document(uow, "C-1", fresh.document_id)


def test_sweep_deletes_expired_objects_and_metadata_only(stocked, store):
    uow, fresh, old, other = stocked
    from prometheus_client import REGISTRY

    swept = REGISTRY.get_sample_value("portal_documents_swept_total") or 0
    handlers.close_customer(commands.CloseCustomer("C-1"), uow, NOW)  # closed: still swept on schedule
    assert handlers.sweep_expired(lambda: uow, store, NOW, dry_run=True) == [old.document_id]
    assert REGISTRY.get_sample_value("portal_documents_swept_total") == swept  # a dry run counts nothing
    removed = handlers.sweep_expired(lambda: uow, store, NOW)
    assert removed == [old.document_id]
    assert REGISTRY.get_sample_value("portal_documents_swept_total") == swept + 1  # counted after the commit
    assert store.data(old.bucket, old.key) is None and uow.documents.get(old.document_id) is None
    assert store.data(fresh.bucket, fresh.key) == PDF
    assert handlers.sweep_expired(lambda: uow, store, NOW) == []
    later = fresh.available_until
    assert set(handlers.sweep_expired(lambda: uow, store, later)) == {fresh.document_id, other.document_id}


def test_policy_projection_ignores_older_updates(uow):
    handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-9", NOW - timedelta(days=1)), uow)
    assert uow.documents.get_policy_owner("KGFB-1").customer_id == "C-1"
    handlers.record_policy_owner(commands.RecordPolicyOwner("KGFB-1", "C-9", NOW + timedelta(days=1)), uow)
    assert uow.documents.get_policy_owner("KGFB-1").customer_id == "C-9"


def test_the_first_read_publishes_document_read_once(stocked, store):
    """Issue 9: the gateway's cached unread count changes with the first read only."""
    uow, fresh, _old, other = stocked
    uow.published.clear()
    later = NOW + timedelta(minutes=5)
    doc, stored = handlers.open_content(uow, store, "C-1", fresh.document_id, later, purpose="view")
    stored.close()
    assert read_events(uow) == [("document.read", {"document_id": fresh.document_id, "customer_id": "C-1",
                                                   "read_at": later.isoformat()})]
    doc, stored = handlers.open_content(uow, store, "C-1", fresh.document_id, later + timedelta(hours=1))
    stored.close()
    handlers.mark_read(uow, "C-1", fresh.document_id, later + timedelta(hours=2))
    assert len(read_events(uow)) == 1 and doc.read_at == later
    handlers.mark_read(uow, "C-2", other.document_id, later)  # the read marker without the bytes counts as well
    assert read_events(uow)[1:] == [("document.read", {"document_id": other.document_id, "customer_id": "C-2",
                                                       "read_at": later.isoformat()})]


def read_events(uow):
    return [(name, payload) for name, payload in uow.published if name == "document.read"]


def recorded(uow) -> list[tuple[str, str, str]]:
    """The ``document.delivery_recorded`` events written: (document id, what, happened_at)."""
    return [(p["document_id"], p["what"], p["happened_at"]) for name, p in uow.published
            if name == "document.delivery_recorded"]


def test_every_change_of_the_delivery_record_is_published_and_nothing_else(stocked, store):
    """The gateways' cached listings show the delivery record: each change reaches them as an event, written in
    the transaction that changes the record. Whom and what only (no title, no content)."""
    uow, fresh, _old, _other = stocked
    uow.published.clear()
    at = [NOW + timedelta(minutes=n) for n in range(6)]

    def opened(when, purpose):
        handlers.open_content(uow, store, "C-1", fresh.document_id, when, purpose=purpose)[1].close()

    opened(at[0], "view")  # the first view: first_opened_at
    opened(at[1], "view")  # a later view changes nothing the record shows
    opened(at[2], "download")  # every download: the count, the last download
    opened(at[3], "download")
    handlers.mark_read(uow, "C-1", fresh.document_id, at[4])  # the read marker is no delivery (document.read only)
    d = fresh.document_id
    assert recorded(uow) == [(d, "viewed", at[0].isoformat()), (d, "downloaded", at[2].isoformat()),
                             (d, "downloaded", at[3].isoformat())]
    assert [p for name, p in uow.published if name == "document.delivery_recorded"][0] == {
        "document_id": d, "customer_id": "C-1", "what": "viewed", "happened_at": at[0].isoformat()}
    assert (fresh.first_opened_at, fresh.download_count, fresh.last_downloaded_at) == (at[0], 2, at[3])


def test_a_download_first_then_the_first_view_is_recorded_too(stocked, store):
    uow, fresh, _old, _other = stocked
    uow.published.clear()
    handlers.open_content(uow, store, "C-1", fresh.document_id, NOW, purpose="download")[1].close()
    handlers.open_content(uow, store, "C-1", fresh.document_id, NOW + timedelta(hours=1), purpose="view")[1].close()
    assert [what for _d, what, _at in recorded(uow)] == ["downloaded", "viewed"]
    assert len(read_events(uow)) == 1


def test_the_announcement_is_published_when_recorded_or_moved_earlier_only(stocked):
    uow, fresh, _old, other = stocked
    uow.published.clear()
    sent = NOW + timedelta(seconds=7)

    def announced(when, customer_id="C-1", document_id=fresh.document_id):
        return handlers.record_announced(commands.RecordAnnounced(document_id, customer_id, when), uow)

    assert announced(sent)
    assert announced(sent + timedelta(minutes=1))  # a later sending (a redelivery): the first one counts
    assert announced(sent)  # the same again
    assert not announced(sent, customer_id="C-2")  # not C-2's: nothing recorded
    assert recorded(uow) == [(fresh.document_id, "announced", sent.isoformat())]
    assert announced(sent - timedelta(seconds=5))  # an earlier sending than recorded moves it
    assert recorded(uow)[1:] == [(fresh.document_id, "announced", (sent - timedelta(seconds=5)).isoformat())]
    assert fresh.announced_at == sent - timedelta(seconds=5) and other.announced_at is None


def test_a_refused_read_publishes_nothing(stocked, store):
    uow, fresh, old, other = stocked
    uow.published.clear()
    for call in (lambda: handlers.open_content(uow, store, "C-1", old.document_id, NOW),  # expired: 410
                 lambda: handlers.open_content(uow, store, "C-1", other.document_id, NOW),  # not hers: 404
                 lambda: handlers.mark_read(uow, "C-1", other.document_id, NOW)):
        with pytest.raises((handlers.Expired, handlers.NotFound)):
            call()
    assert uow.published == [] and not old.read and not other.read
