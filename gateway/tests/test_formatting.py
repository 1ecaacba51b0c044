"""The date filters give Babel's own texts: the formats are compiled once per process (gateway/formatting.py), and
every text must stay what ``babel.dates`` makes of the same instant in the same language and time zone."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from babel import dates as babel_dates
from flask_babel import get_locale, get_timezone

from gateway import formatting

# Every 7 h 13 min 17 s over two years: every hour, minute and second of the day, both sides of noon and midnight,
# every weekday and month, the spring and autumn clock changes of 2026 and 2027.
START = datetime(2025, 12, 30, 0, 0, 1, tzinfo=timezone.utc)
STEP = timedelta(hours=7, minutes=13, seconds=17)
INSTANTS = [START + n * STEP for n in range(2 * 365 * 24 * 3600 // int(STEP.total_seconds()))]
# Around the clock changes in Budapest (2026-03-29 01:00 UTC, 2026-10-25 01:00 UTC) minute by minute.
for change in (datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc), datetime(2026, 10, 25, 1, 0, tzinfo=timezone.utc)):
    INSTANTS += [change + timedelta(minutes=m, seconds=30) for m in range(-90, 90)]

DATETIME_FORMATS = ["medium", "full", "long", "short", "yyyy. MM. dd.", "EEEE, d MMMM y, h:mm a, H:mm:ss, LLL, e c",
                    "H:mm' Uhr 'z, ''yy"]
DATE_FORMATS = ["medium", "full", "long", "short", "yyyy. MM. dd.", "EEE d. MMMMM, y"]


@pytest.mark.parametrize("lang", ["hu", "en"])
def test_dates_and_times_are_babels_own_texts(app, lang):
    with app.test_request_context("/", headers={"Accept-Language": lang}):
        locale, zone = get_locale(), get_timezone()
        assert str(locale) == lang and str(zone) == "Europe/Budapest"
        checked = 0
        for instant in INSTANTS:
            # The same instant as the services send it (UTC), with another offset, and naive (read as UTC).
            for value in (instant, instant.astimezone(timezone(timedelta(hours=5, minutes=30))),
                          instant.replace(tzinfo=None)):
                for fmt in DATETIME_FORMATS:
                    assert formatting.format_datetime(value, fmt) == \
                        babel_dates.format_datetime(value, fmt, tzinfo=zone, locale=locale), (value, fmt)
                for fmt in DATE_FORMATS:
                    # A datetime's day is the day in Budapest (Flask-Babel's rebase), then Babel's format_date.
                    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
                    day = zone.normalize(aware.astimezone(zone)).date()
                    assert formatting.format_date(value, fmt) == babel_dates.format_date(day, fmt, locale=locale)
                    assert formatting.format_date(day, fmt) == babel_dates.format_date(day, fmt, locale=locale)
                checked += 1
        assert checked > 7000


def test_the_filters_show_the_day_and_time_in_budapest_in_the_pages_language(app):
    instant = "2026-03-29T00:59:30+00:00"  # 01:59:30 in Budapest, a minute before the clocks go forward
    with app.test_request_context("/", headers={"Accept-Language": "hu"}):
        assert formatting.fmt_datetime(instant) == "2026. márc. 29. 1:59:30"
        assert formatting.fmt_date(instant) == "2026. 03. 29."
        assert formatting.fmt_day(date(2026, 12, 8)) == "2026. december 8., kedd"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert formatting.fmt_datetime("2026-03-29T01:00:30Z") == "Mar 29, 2026, 3:00:30\u202fAM"
        assert formatting.fmt_day(date(2026, 12, 8)) == "Tuesday, December 8, 2026"
