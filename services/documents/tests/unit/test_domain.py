from datetime import datetime, timedelta, timezone

import pytest

from documents.domain import model

UTC = timezone.utc
BUDAPEST = timezone(timedelta(hours=2))


@pytest.mark.parametrize("start, expected", [
    (datetime(2026, 1, 31, 10, 0, tzinfo=UTC), datetime(2027, 2, 28, 10, 0, tzinfo=UTC)),  # clamped
    (datetime(2027, 1, 31, 10, 0, tzinfo=UTC), datetime(2028, 2, 29, 10, 0, tzinfo=UTC)),  # leap year
    (datetime(2026, 3, 31, 0, 0, tzinfo=UTC), datetime(2027, 4, 30, 0, 0, tzinfo=UTC)),
    (datetime(2026, 11, 30, 23, 59, tzinfo=UTC), datetime(2027, 12, 30, 23, 59, tzinfo=UTC)),
    (datetime(2026, 12, 15, 8, 0, tzinfo=UTC), datetime(2028, 1, 15, 8, 0, tzinfo=UTC)),  # across two year ends
    (datetime(2024, 6, 20, 9, 30, 12, tzinfo=BUDAPEST), datetime(2025, 7, 20, 9, 30, 12, tzinfo=BUDAPEST)),
])
def test_available_for_thirteen_calendar_months(start, expected):
    assert model.add_months(start, model.RETENTION_MONTHS) == expected


def test_thirteen_months_always_fit_into_the_lifecycle_rule():
    start = datetime(2020, 1, 1, tzinfo=UTC)
    longest = max((model.add_months(start + timedelta(days=d), 13) - (start + timedelta(days=d))).days
                  for d in range(0, 366 * 4))
    assert longest <= model.LIFECYCLE_DAYS == 397


def _doc(uploaded_at):
    return model.Document.receive(document_id="d1", customer_id="C-1", policy_number="P-1", doc_type="other",
                                  title="t", content_type="application/pdf", size=1, sha256="0" * 64,
                                  bucket="b", key="k", uploaded_at=uploaded_at, now=datetime(2026, 11, 21, tzinfo=UTC))


def test_expired_exactly_at_available_until():
    doc = _doc(datetime(2026, 1, 31, 10, 0, tzinfo=UTC))
    assert not doc.expired(datetime(2027, 2, 28, 9, 59, 59, tzinfo=UTC))
    assert doc.expired(datetime(2027, 2, 28, 10, 0, tzinfo=UTC))


def test_a_new_document_announces_itself_but_an_already_expired_one_does_not():
    fresh = _doc(datetime(2026, 11, 20, tzinfo=UTC))
    assert [event.name for event in fresh.events] == ["document.available"]
    assert fresh.events[0].payload()["available_until"] == "2027-12-20T00:00:00+00:00"
    assert _doc(datetime(2025, 9, 1, tzinfo=UTC)).events == []


def test_read_marker_keeps_the_first_time():
    doc = _doc(datetime(2026, 11, 20, tzinfo=UTC))
    assert not doc.read
    first = datetime(2026, 11, 21, 8, tzinfo=UTC)
    doc.mark_read(first)
    doc.mark_read(first + timedelta(hours=1))
    assert doc.read and doc.read_at == first
