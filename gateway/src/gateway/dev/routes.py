from __future__ import annotations

import json
import re
from email import policy
from email.parser import BytesParser
from html import unescape
from pathlib import Path

from flask import current_app, render_template
from markupsafe import Markup, escape

from portal_common import config

from ..clients import clients
from ..clients.http import RemoteError
from . import bp

LIMIT = 50
URL_RE = re.compile(r"https?://[^\s<>\"']+")


def _dir(name: str) -> Path:
    return Path(current_app.config.get("DEV_VAR_DIR") or config.var_dir()) / name


def _newest(directory: Path, pattern: str) -> list[Path]:
    if not directory.is_dir():
        return []
    files = [p for p in directory.glob(pattern) if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)[:LIMIT]


def linkify(text: str) -> Markup:
    """Escape the text, then make every http(s) URL a link (the activation link, the portal link)."""
    out, last = [], 0
    for match in URL_RE.finditer(text or ""):
        url = match.group(0).rstrip(".,;)")
        out.append(escape(text[last:match.start()]))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.start() + len(url)
    out.append(escape((text or "")[last:]))
    return Markup("").join(out)


def _mail(path: Path) -> dict:
    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part else ""
    if not text and html_part:
        text = unescape(re.sub(r"<[^>]+>", " ", html_part.get_content()))
    links = []
    if html_part:
        links = sorted(set(re.findall(r'href="(https?://[^"]+)"', html_part.get_content())))
    return {"file": path.name, "from": message.get("From", ""), "to": message.get("To", ""),
            "subject": message.get("Subject", ""), "date": message.get("Date", ""), "body": linkify(text),
            "links": links}


def _sms(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {"text": "(unreadable)"}
    return {"file": path.name, "to": data.get("to", ""), "text": linkify(str(data.get("text", ""))),
            "received_at": data.get("received_at") or data.get("at") or ""}


@bp.get("/")
def index():
    return render_template("dev/index.html")


@bp.get("/mail")
def mail():
    return render_template("dev/mail.html", mails=[_mail(p) for p in _newest(_dir("mail"), "*.eml")])


@bp.get("/sms")
def sms():
    return render_template("dev/sms.html", messages=[_sms(p) for p in _newest(_dir("sms"), "*.json")])


def _crm(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {"event": "(unreadable)"}
    payload = data.get("payload")
    return {"file": path.name, "event": data.get("event", ""), "received_at": data.get("received_at", ""),
            "payload": json.dumps(payload, ensure_ascii=False, indent=2) if not isinstance(payload, str) else payload}


@bp.get("/crm")
def crm():
    """What the insurer's contact centre received on crm.events (the devstack's demo CRM keeps it in var/crm)."""
    return render_template("dev/crm.html", messages=[_crm(p) for p in _newest(_dir("crm"), "*.json")])


@bp.get("/deliveries")
def deliveries():
    try:
        items, error = clients().notify.deliveries(limit=LIMIT), None
    except RemoteError as exc:
        items, error = [], str(exc)
    return render_template("dev/deliveries.html", deliveries=items, error=error)
