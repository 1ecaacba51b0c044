"""Template filters: dates in Europe/Budapest and the current language, masked phone numbers, sizes."""
from __future__ import annotations

from datetime import date, datetime, timezone

from babel import dates as babel_dates
from flask import g
from flask_babel import get_locale, get_timezone
from markupsafe import Markup, escape


def _locale_and_zone():
    """The request's locale and time zone, asked of Flask-Babel once per page (a page formats up to ~60 dates)."""
    found = g.get("_locale_and_zone")
    if found is None:
        found = g._locale_and_zone = (get_locale(), get_timezone())
    return found


# Flask-Babel's format_datetime / format_date without the per-call look-ups; the same Babel calls (the app
# configures no Babel(date_formats=…), so "medium" and "full" stay the locale's own).
def format_datetime(value: datetime, fmt: str) -> str:
    locale, zone = _locale_and_zone()
    return babel_dates.format_datetime(value, fmt, tzinfo=zone, locale=locale)


def format_date(value: date, fmt: str) -> str:
    locale, zone = _locale_and_zone()
    if isinstance(value, datetime):  # Flask-Babel's rebase: the day in the user's time zone
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = zone.normalize(value.astimezone(zone))
    return babel_dates.format_date(value, fmt, locale=locale)


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
