from datetime import date, datetime, time, timedelta, timezone

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


def _uploads_every_half_hour(years: int = 4):
    """Upload instants every 30 minutes over a whole leap-year cycle (every month end, DST switch and leap day)."""
    start = datetime(2027, 1, 1, tzinfo=UTC)
    return (start + timedelta(minutes=30 * i) for i in range(years * 366 * 48))


@pytest.mark.parametrize("uploaded_at, shown_until", [
    ("2026-04-30T22:30:00+00:00", date(2027, 6, 1)),  # 1 May 00:30 in Budapest: 13 months are 1 June, not 31 May
    ("2026-05-01T00:30:00+02:00", date(2027, 6, 1)),  # the same instant in the Budapest offset: the same window
    ("2026-11-30T23:59:00+00:00", date(2028, 1, 1)),  # 1 December in Budapest
    ("2027-01-30T23:30:00+00:00", date(2028, 2, 29)),  # 31 January in Budapest -> clamped to the leap day
    ("2027-03-28T00:30:00+00:00", date(2028, 4, 28)),  # the night summer time starts
    ("2027-10-30T22:30:00+00:00", date(2028, 11, 30)),  # 31 October 00:30 CEST, the day summer time ends
])
def test_the_thirteen_months_run_from_the_day_the_customer_sees_as_the_upload(uploaded_at, shown_until):
    uploaded = datetime.fromisoformat(uploaded_at)
    until = model.window_end(uploaded)
    assert until.astimezone(model.BUDAPEST).date() == shown_until
    assert until.astimezone(model.BUDAPEST).time() == uploaded.astimezone(model.BUDAPEST).time()


def test_the_window_is_thirteen_budapest_calendar_months_for_every_upload_instant():
    for uploaded in _uploads_every_half_hour():
        day = uploaded.astimezone(model.BUDAPEST).date()
        expected = model.add_months(datetime(day.year, day.month, day.day), 13).date()
        assert model.window_end(uploaded).astimezone(model.BUDAPEST).date() == expected, uploaded


def _s3_expiry(created: datetime, days: int) -> datetime:
    """When S3 may delete an object under an ``Expiration: {Days: days}`` rule: creation + days, rounded UP to the
    next midnight UTC (AWS S3 user guide, "Lifecycle configuration elements", Days)."""
    moment = created.astimezone(UTC) + timedelta(days=days)
    midnight = datetime.combine(moment.date(), time(0), UTC)
    return midnight if moment == midnight else midnight + timedelta(days=1)


def _end_of_shown_day(available_until: datetime) -> datetime:
    """The end of the day the portal shows as "Elérhető eddig" (the date in Budapest)."""
    day = available_until.astimezone(model.BUDAPEST).date() + timedelta(days=1)
    return datetime.combine(day, time(0), model.BUDAPEST)


def test_the_lifecycle_rule_never_deletes_a_document_before_the_end_of_the_day_the_portal_shows():
    # The stored copy is created no earlier than the upload; the earliest case is the one that matters.
    early = [(u, model.window_end(u)) for u in _uploads_every_half_hour()
             if _s3_expiry(u, model.LIFECYCLE_DAYS) < _end_of_shown_day(model.window_end(u))]
    assert early == []
    longest = max(model.window_end(u) - u for u in _uploads_every_half_hour())
    assert longest == timedelta(days=397, hours=1)  # 2027-10-01 01:30 CEST -> 2028-11-01 01:30 CET
    assert model.LIFECYCLE_DAYS == 398


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
