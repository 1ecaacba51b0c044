"""Working days in Hungary: the callback promise ("we call you back within two working days") counts them.

A working day is Monday to Friday, not a Hungarian public holiday (the maintained ``holidays`` calendar: 1 January,
15 March, Good Friday, Easter Monday, 1 May, Whit Monday, 20 August, 23 October, 1 November, 24-26 December and the
government's bridge days), and not one of the configured extra non-working days (``PORTAL_EXTRA_NON_WORKING_DAYS``:
a company holiday, a new bridge day decreed after the calendar was released). No framework here: ``holidays`` is a
plain calendar library.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Iterable
from zoneinfo import ZoneInfo

import holidays

BUDAPEST = ZoneInfo("Europe/Budapest")


@lru_cache(maxsize=16)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("HU", years=year))


def is_working_day(day: date, extra_non_working: Iterable[date] = ()) -> bool:
    return day.weekday() < 5 and day not in _public_holidays(day.year) and day not in set(extra_non_working)


def add_working_days(start: date, count: int, extra_non_working: Iterable[date] = ()) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself never counts, whatever day it is).

    >>> add_working_days(date(2026, 12, 4), 2)   # Friday -> Tuesday
    datetime.date(2026, 12, 8)
    """
    extra = frozenset(extra_non_working)
    day, found = start, 0
    while found < count:
        day += timedelta(days=1)
        if is_working_day(day, extra):
            found += 1
    return day


def callback_due(submitted_at: datetime, working_days: int = 2, extra_non_working: Iterable[date] = ()) -> date:
    """The last day of the callback: the ``working_days``-th working day after the day (Budapest time) the request
    arrived. A request sent on Friday evening or on a holiday is due by the second working day after it."""
    return add_working_days(submitted_at.astimezone(BUDAPEST).date(), working_days, extra_non_working)


def parse_days(raw: str) -> tuple[date, ...]:
    """``"2026-12-31, 2027-01-02"`` -> dates; raises ValueError naming the bad item."""
    days = []
    for item in (raw or "").replace(";", ",").split(","):
        item = item.strip()
        if item:
            try:
                days.append(date.fromisoformat(item))
            except ValueError:
                raise ValueError(f"not a date (YYYY-MM-DD): {item!r}") from None
    return tuple(days)
