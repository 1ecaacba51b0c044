"""Every message renders in Hungarian and English from its template files, with nothing left unfilled."""
from __future__ import annotations

import re

import pytest

from notify.adapters.templates import Renderer, format_time
from notify.domain import messages
from notify.domain.model import EMAIL, LANGUAGES, SMS, Contact
from notify.settings import Settings

SETTINGS = Settings(insurer_name="Példa Biztosító Zrt.", teleservice_phone="+36 1 999 8877",
                    public_url="https://portal.example.hu")
ALL = sorted((lang, template, channel) for lang in LANGUAGES
             for specs in messages.TEMPLATES.values() for template, channel in specs)
CONTACT = Contact("C-1", declaration_email="anna.docs@example.org", account_email="anna@example.org")
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\bNone\b|Undefined")


def _render(samples, load, lang: str, template: str, **overrides):
    for event, specs in messages.TEMPLATES.items():
        if template in [t for t, _ in specs]:
            data = load(event, {**samples[event], "language": lang, **overrides})
            planned = next(p for p in messages.plan(event, data, CONTACT) if p.template == template)
            return Renderer(SETTINGS).render(template, planned.channel, lang, planned.payload)
    raise AssertionError(f"no event produces {template}")


def test_every_template_has_files_in_both_languages():
    assert {(lang, t) for lang, t, _ in ALL} == Renderer(SETTINGS).available()


@pytest.mark.parametrize("lang,template,channel", ALL)
def test_renders_without_leftover_placeholders(samples, load, lang, template, channel):
    out = _render(samples, load, lang, template)
    parts = [out.text] if channel == SMS else [out.subject, out.text, out.html]
    for part in parts:
        assert part and not LEFTOVER.search(part), part
    if channel == EMAIL:
        assert "\n" not in out.subject
        for part in (out.text, out.html):
            assert "Példa Biztosító Zrt." in part and "+36 1 999 8877" in part
        assert out.html.lstrip().startswith("<!DOCTYPE html>")
    else:
        assert out.html is None and "Példa Biztosító Zrt." in out.text


def test_hungarian_is_the_default_language(samples, load):
    hu = _render(samples, load, "hu", "password_changed")
    unknown = _render(samples, load, "de", "password_changed")
    assert unknown.subject == hu.subject == "Megváltozott az ügyfélportál-jelszava"


def test_activation_mail_has_link_validity_and_spam_hint(samples, load, secrets):
    hu = _render(samples, load, "hu", "activation")
    assert secrets["activation_url"] in hu.text and f'href="{secrets["activation_url"]}"' in hu.html
    assert "2026. november 22. 11:00-ig (24 óráig)" in hu.text  # 10:00 UTC is 11:00 in Budapest in November
    assert "spam" in hu.text and "Promóciók" in hu.text
    en = _render(samples, load, "en", "activation")
    assert "22 November 2026, 11:00" in en.text and "Promotions" in en.text and "spam" in en.text


def test_lock_notice_shows_budapest_time_way_back_and_phone(samples, load):
    out = _render(samples, load, "hu", "account_locked")
    assert "2026. november 22. 14:05-ig" in out.text
    assert "Elfelejtett felhasználónév vagy jelszó" in out.text and "+36 1 999 8877" in out.text
    assert "3 alkalommal" in out.text


def test_initial_password_sms_carries_password_and_forced_change(samples, load, secrets):
    out = _render(samples, load, "hu", "initial_password")
    assert secrets["initial_password"] in out.text and "új jelszót kell választania" in out.text


def test_reset_mail_has_username_and_otp_but_reset_sms_has_no_password(samples, load, secrets):
    mail = _render(samples, load, "hu", "credentials_reset")
    assert "minta.anna" in mail.text and secrets["one_time_password"] in mail.text
    assert secrets["one_time_password"] in mail.html and "24 óráig" in mail.text
    sms = _render(samples, load, "hu", "reset_notice")
    assert secrets["one_time_password"] not in sms.text and "visszaállítottuk" in sms.text
    assert "+36 1 999 8877" in sms.text


def test_document_mail_names_the_document_and_links_the_portal_never_attaches(samples, load):
    out = _render(samples, load, "hu", "document_available")
    assert out.subject == "Új elektronikus dokumentum: Díjértesítő 2026"
    assert "Típus: díjértesítő" in out.text and "KGFB-1001" in out.text
    assert "https://portal.example.hu/documents" in out.text and 'href="https://portal.example.hu/documents"' in out.html
    en = _render(samples, load, "en", "document_available", doc_type="claim_letter")
    assert "Type: claim letter" in en.text


def test_enrolment_mentions_cheque_switch_only_when_it_was_cheque(samples, load):
    cheque = _render(samples, load, "hu", "policy_enrolled")
    assert "HOME-2002" in cheque.subject and "banki átutalásra" in cheque.text and "banki átutalásra" in cheque.html
    transfer = _render(samples, load, "hu", "policy_enrolled", previous_payment_method="bank_transfer")
    assert "csekk" not in transfer.text and "banki átutalásra" not in transfer.text


def test_withdrawal_says_documents_go_by_post_again(samples, load):
    assert "ismét postán" in _render(samples, load, "hu", "declaration_withdrawn").text
    assert "by post again" in _render(samples, load, "en", "declaration_withdrawn").text


def test_html_escapes_event_text(samples, load):
    out = _render(samples, load, "hu", "document_available", title="<script>x</script>")
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html


def test_format_time_uses_budapest_summer_and_winter_time():
    assert format_time("2026-07-01T10:00:00+00:00", "hu") == "2026. július 1. 12:00"
    assert format_time("2026-01-01T10:00:00+00:00", "en") == "1 January 2026, 11:00"
