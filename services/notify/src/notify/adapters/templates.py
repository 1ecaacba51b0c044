"""Message texts are files: ``templates/<lang>/<template>.subject.txt``, ``.txt`` and ``.html`` (Jinja2).

E-mails have all three; an SMS has only ``.txt``. Undefined variables raise (StrictUndefined), so a template that
mentions something the payload lacks fails in the tests instead of sending "{{ username }}" to a customer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..domain.model import DEFAULT_LANGUAGE, EMAIL, LANGUAGES
from ..settings import Settings

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
BUDAPEST = ZoneInfo("Europe/Budapest")

_HU_MONTHS = ("január", "február", "március", "április", "május", "június", "július", "augusztus", "szeptember",
              "október", "november", "december")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")

WORDS = {
    "hu": {
        "policy_schedule": "kötvény", "premium_notice": "díjértesítő", "payment_reminder": "fizetési emlékeztető",
        "claim_letter": "kárügyi levél", "other": "egyéb dokumentum",
        "cheque": "csekk", "bank_transfer": "banki átutalás", "direct_debit": "csoportos beszedési megbízás",
        "portal": "az ügyfélportálon", "registration": "a regisztráció során",
        "topic_policy": "szerződés", "topic_claim": "kár, kárbejelentés", "topic_payment": "díjfizetés",
        "topic_documents": "dokumentumok", "topic_portal": "az ügyfélportál használata", "topic_legal": "jogi kérdés",
        "topic_other": "egyéb", "time_any": "bármikor (munkanapokon 8–20 óra)", "time_morning": "délelőtt (8–12 óra)",
        "time_afternoon": "délután (12–16 óra)", "time_evening": "késő délután, este (16–20 óra)",
    },
    "en": {
        "policy_schedule": "policy schedule", "premium_notice": "premium notice",
        "payment_reminder": "payment reminder", "claim_letter": "claim letter", "other": "other document",
        "cheque": "postal cheque", "bank_transfer": "bank transfer", "direct_debit": "direct debit",
        "portal": "on the customer portal", "registration": "during registration",
        "topic_policy": "policy", "topic_claim": "claim", "topic_payment": "premium payment",
        "topic_documents": "documents", "topic_portal": "using the customer portal", "topic_legal": "legal question",
        "topic_other": "other", "time_any": "any time (working days 8:00–20:00)", "time_morning": "morning (8:00–12:00)",
        "time_afternoon": "afternoon (12:00–16:00)", "time_evening": "late afternoon, evening (16:00–20:00)",
    },
}


def format_time(value, lang: str) -> str:
    """An ISO timestamp as a person in Hungary reads it: ``2026. november 22. 14:05`` (Budapest time)."""
    if value is None:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    local = moment.astimezone(BUDAPEST)
    if lang == "hu":
        return f"{local.year}. {_HU_MONTHS[local.month - 1]} {local.day}. {local:%H:%M}"
    return f"{local.day} {_EN_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


_HU_WEEKDAYS = ("hétfő", "kedd", "szerda", "csütörtök", "péntek", "szombat", "vasárnap")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def format_day(value, lang: str) -> str:
    """An ISO date with its weekday: ``2026. december 8., kedd`` / ``Tuesday, 8 December 2026``."""
    if not value:
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if lang == "hu":
        return f"{day.year}. {_HU_MONTHS[day.month - 1]} {day.day}., {_HU_WEEKDAYS[day.weekday()]}"
    return f"{_EN_WEEKDAYS[day.weekday()]}, {day.day} {_EN_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Rendered:
    text: str
    subject: str | None = None
    html: str | None = None


class Renderer:
    def __init__(self, settings: Settings, directory: Path = TEMPLATE_DIR):
        self.settings = settings
        self.env = Environment(loader=FileSystemLoader(str(directory)), undefined=StrictUndefined,
                               autoescape=select_autoescape(enabled_extensions=("html",), default=False),
                               keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)

    def context(self, lang: str, payload: dict) -> dict:
        s = self.settings
        words = WORDS[lang]
        return {
            # Keys a payload recorded by an older version may lack (StrictUndefined would refuse to render it).
            "valid_hours": None,
            **payload,
            "lang": lang,
            "insurer": s.insurer_name,
            "teleservice_phone": s.teleservice_phone,
            "portal_url": s.public_url + "/",
            "documents_url": s.public_url + "/documents",
            "time": lambda value: format_time(value, lang),
            "day": lambda value: format_day(value, lang),
            "word": lambda key: words.get(key or "", key or ""),
        }

    def render(self, template: str, channel: str, language: str, payload: dict) -> Rendered:
        lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
        ctx = self.context(lang, payload)
        text = self.env.get_template(f"{lang}/{template}.txt").render(ctx).strip() + "\n"
        if channel != EMAIL:
            return Rendered(text=text.strip())
        subject = self.env.get_template(f"{lang}/{template}.subject.txt").render(ctx).strip()
        html = self.env.get_template(f"{lang}/{template}.html").render(ctx)
        return Rendered(text=text, subject=" ".join(subject.split()), html=html)

    def available(self) -> set[tuple[str, str]]:
        """(language, template) pairs that have a text body."""
        return {(p.parent.name, p.name[:-len(".txt")]) for p in TEMPLATE_DIR.glob("*/*.txt")
                if not p.name.endswith(".subject.txt") and not p.name.startswith("_")}
