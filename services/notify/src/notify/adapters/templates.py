"""Message texts are files: ``templates/<lang>/<template>.subject.txt``, ``.txt`` and ``.html`` (Jinja2).

E-mails have all three; an SMS has only ``.txt``. Undefined variables raise (StrictUndefined), so a template that
mentions something the payload lacks fails in the tests instead of sending "{{ username }}" to a customer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
    },
    "en": {
        "policy_schedule": "policy schedule", "premium_notice": "premium notice",
        "payment_reminder": "payment reminder", "claim_letter": "claim letter", "other": "other document",
        "cheque": "postal cheque", "bank_transfer": "bank transfer", "direct_debit": "direct debit",
        "portal": "on the customer portal", "registration": "during registration",
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
