"""The callback deadline: two working days, skipping weekends, Hungarian public holidays and configured extra days."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from identity.domain.workdays import add_working_days, callback_due, is_working_day, parse_days


@pytest.mark.parametrize("start, due, why", [
    (date(2026, 12, 2), date(2026, 12, 4), "Wednesday -> Friday"),
    (date(2026, 12, 4), date(2026, 12, 8), "Friday -> Tuesday (the weekend does not count)"),
    (date(2026, 12, 5), date(2026, 12, 8), "Saturday -> Tuesday"),
    (date(2026, 12, 23), date(2026, 12, 29), "24-26 December and the weekend"),
    (date(2027, 3, 12), date(2027, 3, 17), "15 March (a Monday in 2027)"),
    (date(2027, 3, 25), date(2027, 3, 31), "Good Friday and Easter Monday 2027"),
    (date(2026, 5, 22), date(2026, 5, 27), "Whit Monday 2026"),
    (date(2026, 10, 22), date(2026, 10, 27), "23 October (a Friday in 2026)"),
    (date(2027, 10, 29), date(2027, 11, 3), "1 November (a Monday in 2027)"),
])
def test_two_working_days_skip_weekends_and_hungarian_public_holidays(start, due, why):
    assert add_working_days(start, 2) == due, why


@pytest.mark.parametrize("day", [date(2026, 3, 16), date(2027, 3, 15), date(2026, 4, 6), date(2026, 5, 25),
                                 date(2026, 10, 23), date(2027, 11, 1), date(2026, 12, 24), date(2026, 12, 25),
                                 date(2027, 1, 1), date(2026, 8, 20)])
def test_public_holidays_are_not_working_days(day):
    if day == date(2026, 3, 16):  # control: the Monday after 15 March 2026 (a Sunday) is a normal working day
        assert is_working_day(day)
    else:
        assert not is_working_day(day)


def test_configured_extra_days_are_skipped_too():
    extra = parse_days("2026-12-07, 2026-12-08")
    assert add_working_days(date(2026, 12, 4), 2, extra) == date(2026, 12, 10)
    assert add_working_days(date(2026, 12, 4), 2) == date(2026, 12, 8)


def test_the_day_of_the_request_is_the_day_in_budapest():
    # 23:30 UTC on Thursday is already Friday 00:30 in Budapest: due on Tuesday, not on Monday.
    assert callback_due(datetime(2026, 12, 3, 23, 30, tzinfo=timezone.utc)) == date(2026, 12, 8)
    assert callback_due(datetime(2026, 12, 3, 22, 30, tzinfo=timezone.utc)) == date(2026, 12, 7)


def test_extra_days_are_parsed_strictly():
    assert parse_days("") == ()
    assert parse_days("2026-12-31;2027-01-02") == (date(2026, 12, 31), date(2027, 1, 2))
    with pytest.raises(ValueError, match="31.12.2026"):
        parse_days("31.12.2026")
