"""Template filters: dates in Europe/Budapest and the current language, masked phone numbers, sizes."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Callable

from babel import dates as babel_dates
from flask import g
from flask_babel import get_locale, get_timezone
from markupsafe import Markup, escape


def _locale_and_zone():
    """The request's locale, time zone and locale identifier, asked once per page (a page formats up to ~90 dates)."""
    found = g.get("_locale_and_zone")
    if found is None:
        locale = get_locale()
        found = g._locale_and_zone = (locale, get_timezone(), str(locale))
    return found


# Compiled formats -------------------------------------------------------------------------------------------------
# A /documents page formats ~90 dates; Babel's format_datetime looks the locale's patterns up, parses them (cached)
# and builds a DateTimeFormat per value, which cost a third of the page's rendering. Here each (locale, format) is
# compiled once per process into its %-format and, per field, a table of the field's texts *made by Babel itself*
# for every value the field can take (months, days, hours, minutes, seconds, weekdays, am/pm). Only the year is
# formatted here, as Babel does ('%0*d'); any other field (time zones, weeks, eras…) is asked of Babel per value.
# The texts are Babel's for every value (gateway/tests/test_formatting.py compares them over two years of instants).

_PREDEFINED = ("full", "long", "medium", "short")
#: field letter -> (what decides its text, the values it can take, a sample date or time with each value)
_TABLE_FIELDS: dict[str, tuple[Callable, range, Callable]] = {
    "M": (lambda v: v.month, range(1, 13), lambda n: date(2001, n, 1)),
    "L": (lambda v: v.month, range(1, 13), lambda n: date(2001, n, 1)),
    "d": (lambda v: v.day, range(1, 32), lambda n: date(2001, 1, n)),
    "E": (lambda v: v.weekday(), range(7), lambda n: date(2001, 1, 1 + n)),  # 2001-01-01 was a Monday
    "e": (lambda v: v.weekday(), range(7), lambda n: date(2001, 1, 1 + n)),
    "c": (lambda v: v.weekday(), range(7), lambda n: date(2001, 1, 1 + n)),
    "a": (lambda v: v.hour, range(24), lambda n: time(n, tzinfo=timezone.utc)),
    "h": (lambda v: v.hour, range(24), lambda n: time(n, tzinfo=timezone.utc)),
    "H": (lambda v: v.hour, range(24), lambda n: time(n, tzinfo=timezone.utc)),
    "K": (lambda v: v.hour, range(24), lambda n: time(n, tzinfo=timezone.utc)),
    "k": (lambda v: v.hour, range(24), lambda n: time(n, tzinfo=timezone.utc)),
    "m": (lambda v: v.minute, range(60), lambda n: time(0, n, tzinfo=timezone.utc)),
    "s": (lambda v: v.second, range(60), lambda n: time(0, 0, n, tzinfo=timezone.utc)),
}


def _compile_pattern(pattern, locale) -> Callable[[date | time, date | None], str]:
    """``pattern`` (a Babel/CLDR pattern) as a function of a date or time (and the reference date Babel's time zone
    fields use) that gives what ``babel.dates.parse_pattern(pattern).apply(value, locale)`` gives."""
    parsed = babel_dates.parse_pattern(pattern)
    fields: list[tuple[str, Callable]] = []
    for name in dict.fromkeys(re.findall(r"%\((\w+)\)s", parsed.format)):
        char, num = name[0], len(name)
        if char == "y":  # DateTimeFormat.format_year for 'y': the year, zero-padded to the field's length
            fields.append((name, (lambda num: lambda v, ref: ("%0*d" % (num, v.year))[-2:] if num == 2
                                  else "%0*d" % (num, v.year))(num)))
        elif char in _TABLE_FIELDS:
            key, values, sample = _TABLE_FIELDS[char]
            table = {n: babel_dates.DateTimeFormat(sample(n), locale)[name] for n in values}
            fields.append((name, (lambda key, table: lambda v, ref: table[key(v)])(key, table)))
        else:  # anything else: Babel itself, per value
            fields.append((name, (lambda name: lambda v, ref: babel_dates.DateTimeFormat(v, locale, ref)[name])(name)))
    fmt = parsed.format

    def apply(value, reference_date=None) -> str:
        return fmt % {name: text(value, reference_date) for name, text in fields}

    return apply


_COMPILED: dict[tuple, Callable] = {}


def _datetime_formatter(locale, name: str, fmt: str) -> Callable[[datetime], str]:
    """``babel.dates.format_datetime(value, fmt, tzinfo=None, locale=locale)`` for an aware ``value``, compiled
    (``name``: the locale's identifier)."""
    key = ("datetime", name, fmt)
    found = _COMPILED.get(key)
    if found is None:
        if fmt in _PREDEFINED:  # as Babel: the locale's glue with "{1}" the date and "{0}" the time
            glue = babel_dates.get_datetime_format(fmt, locale=locale).replace("'", "")
            date_part = _compile_pattern(babel_dates.get_date_format(fmt, locale=locale), locale)
            time_part = _compile_pattern(babel_dates.get_time_format(fmt, locale=locale), locale)

            def found(value: datetime) -> str:
                day = value.date()
                return glue.replace("{0}", time_part(value.timetz(), day)).replace("{1}", date_part(day))
        else:
            whole = _compile_pattern(fmt, locale)

            def found(value: datetime) -> str:
                return whole(value)
        _COMPILED[key] = found
    return found


def _date_formatter(locale, name: str, fmt: str) -> Callable[[date], str]:
    """``babel.dates.format_date(value, fmt, locale=locale)`` for a ``date``, compiled (``name``: the locale's
    identifier)."""
    key = ("date", name, fmt)
    found = _COMPILED.get(key)
    if found is None:
        pattern = babel_dates.get_date_format(fmt, locale=locale) if fmt in _PREDEFINED else fmt
        found = _COMPILED[key] = _compile_pattern(pattern, locale)
    return found


def _in_zone(value: datetime, zone) -> datetime:
    """Babel's ``_ensure_datetime_tzinfo``: a naive value is UTC; then the instant in ``zone``. Babel also calls a
    pytz zone's ``normalize``, which only repeats what ``astimezone`` (pytz's ``fromutc``) did: the offset of the
    instant's own period; normalising matters after arithmetic on a local time, and there is none here."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(zone)


# Flask-Babel's format_datetime / format_date without the per-call look-ups, and with the formats compiled (above);
# the same texts as Babel's (the app configures no Babel(date_formats=…), so "medium" and "full" stay the locale's
# own).
def format_datetime(value: datetime, fmt: str) -> str:
    locale, zone, name = _locale_and_zone()
    return _datetime_formatter(locale, name, fmt)(_in_zone(value, zone))


def format_date(value: date, fmt: str) -> str:
    locale, zone, name = _locale_and_zone()
    if isinstance(value, datetime):  # Flask-Babel's rebase: the day in the user's time zone
        value = _in_zone(value, zone).date()
    return _date_formatter(locale, name, fmt)(value)


def _parse(value):
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


def fmt_datetime(value) -> str:
    parsed = _parse(value)
    if parsed is None:
        return str(value or "")
    if not isinstance(parsed, datetime):
        return format_date(parsed, "medium")
    return format_datetime(parsed, "medium")  # converted to BABEL_DEFAULT_TIMEZONE (Europe/Budapest)


def fmt_time_tag(value) -> Markup:
    """The moment as the customer reads it, inside ``<time datetime="…">`` with the exact instant for machines
    (screen readers, calendars, tests that compare instants rather than formatted strings)."""
    parsed = _parse(value)
    if not isinstance(parsed, datetime):
        return Markup(escape(fmt_datetime(value)))
    return Markup('<time datetime="{}">{}</time>').format(parsed.isoformat(), fmt_datetime(parsed))


def fmt_date(value) -> str:
    parsed = _parse(value)
    if parsed is None:
        return str(value or "")
    if isinstance(parsed, datetime):
        # A date shown to the user is the date in Budapest.
        return format_datetime(parsed, "yyyy. MM. dd.") if parsed.tzinfo else format_date(parsed.date(), "medium")
    return format_date(parsed, "medium")


def fmt_day(value) -> str:
    """A calendar day with its weekday, in the page's language: ``2026. december 8., kedd``."""
    parsed = _parse(value)
    if parsed is None:
        return str(value or "")
    return format_date(parsed.date() if isinstance(parsed, datetime) else parsed, "full")


def mask_mobile(value: str | None) -> str:
    """``+36301234567`` -> ``+36 30 *** 4567``: enough for the owner to recognise, little for anyone else. Formatting
    only: identity hands out numbers in E.164 (it normalises them where they enter the portal)."""
    digits = "".join(ch for ch in str(value or "") if ch.isdigit())
    if not digits:
        return ""
    if digits.startswith("36") and len(digits) >= 10:
        return f"+36 {digits[2:4]} *** {digits[-4:]}"
    return f"*** {digits[-4:]}"


def fmt_size(value) -> str:
    try:
        size = int(value)
    except (TypeError, ValueError):
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def fmt_money(value) -> str:
    try:
        return f"{int(value):,}".replace(",", "\u00a0") + "\u00a0Ft"
    except (TypeError, ValueError):
        return ""


def register(app) -> None:
    app.add_template_filter(fmt_datetime, "datetime")
    app.add_template_filter(fmt_time_tag, "time_tag")
    app.add_template_filter(fmt_date, "date")
    app.add_template_filter(mask_mobile, "mask_mobile")
    app.add_template_filter(fmt_day, "day")
    app.add_template_filter(fmt_size, "size")
    app.add_template_filter(fmt_money, "money")
