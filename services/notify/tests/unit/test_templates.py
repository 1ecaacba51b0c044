"""Every message renders in Hungarian and English from its template files, with nothing left unfilled."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from notify.adapters.templates import Renderer, format_time
from notify.domain import messages
from notify.domain.model import EMAIL, LANGUAGES, SMS, Contact
from notify.service_layer.delivery import opened
from notify.settings import Settings

SETTINGS = Settings(insurer_name="Példa Biztosító Zrt.", teleservice_phone="+36 1 999 8877",
                    public_url="https://portal.example.hu")
ALL = sorted((lang, template, channel) for lang in LANGUAGES
             for specs in messages.TEMPLATES.values() for template, channel in specs)
CONTACT = Contact("C-1", declaration_email="anna.docs@example.org", account_email="anna@example.org")
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\bNone\b|Undefined")
GLUED = re.compile(r"[a-zá-ű][.!?][A-ZÁÉÍÓÖŐÚÜŰ][a-zá-ű]")
SENT = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)  # the samples' links and passwords expire 24 h later


def _render(samples, load, lang: str, template: str, occurred_at=SENT, **overrides):
    for event, specs in messages.TEMPLATES.items():
        if template in [t for t, _ in specs]:
            data = load(event, {**samples[event], "language": lang, **overrides})
            planned = next(p for p in messages.plan(event, data, CONTACT, occurred_at=occurred_at)
                           if p.template == template)
            return Renderer(SETTINGS).render(template, planned.channel, lang,
                                             opened(planned.payload, planned.account_id))
    raise AssertionError(f"no event produces {template}")


def test_every_template_has_files_in_both_languages():
    assert {(lang, t) for lang, t, _ in ALL} == Renderer(SETTINGS).available()


@pytest.mark.parametrize("lang,template,channel", ALL)
def test_renders_without_leftover_placeholders(samples, load, lang, template, channel):
    out = _render(samples, load, lang, template)
    parts = [out.text] if channel == SMS else [out.subject, out.text, out.html]
    for part in parts:
        assert part and not LEFTOVER.search(part), part
    for part in parts:  # a block tag at a line's end must not glue two sentences together (trim_blocks)
        assert not GLUED.search(part), GLUED.search(part).group(0)
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
    # 10:00 UTC is 11:00 in Budapest in November; 24 hours from the event's occurred_at to its expires_at
    assert "2026. november 22. 11:00-ig (a kiküldéstől számítva 24 óráig)" in hu.text
    assert "spam" in hu.text and "Promóciók" in hu.text
    en = _render(samples, load, "en", "activation")
    assert "until 22 November 2026, 11:00 (Budapest time; 24 hours from when we sent it)" in en.text
    assert "Promotions" in en.text and "spam" in en.text


@pytest.mark.parametrize("template", ["activation", "credentials_reset"])
def test_the_validity_in_hours_comes_from_the_event_not_the_template(samples, load, template):
    """identity decides how long links and one-time passwords live; the texts only repeat it."""
    six = SENT + timedelta(hours=18)  # expires_at is 2026-11-22T10:00Z: 6 hours after this
    hu, en = (_render(samples, load, lang, template, occurred_at=six) for lang in ("hu", "en"))
    assert "(a kiküldéstől számítva 6 óráig)" in hu.text and "6 óráig" in hu.html and "24" not in hu.text
    assert "6 hours from when we sent it" in en.text and "6 hours" in en.html and "24 hours" not in en.text
    one = _render(samples, load, "en", template, occurred_at=SENT + timedelta(hours=23, minutes=10))
    assert "1 hour from when we sent it" in one.text
    unknown = [_render(samples, load, lang, template, occurred_at=None) for lang in ("hu", "en")]
    for out in unknown:  # no occurred time: only the expiry time, no figure of our own
        assert "óráig" not in out.text and "hour" not in out.text and "24" not in out.text
        assert "11:00" in out.text and not LEFTOVER.search(out.text) and not LEFTOVER.search(out.html)


def test_lock_notice_shows_budapest_time_way_back_and_phone(samples, load):
    out = _render(samples, load, "hu", "account_locked")
    assert "2026. november 22. 14:05-ig" in out.text
    assert "Elfelejtett felhasználónév vagy jelszó" in out.text and "+36 1 999 8877" in out.text
    assert "3 alkalommal" in out.text
    assert "Ha azzal belép, a zárolás is megszűnik" in out.text  # asking for the password does not lift it


def test_lock_notice_takes_the_count_and_the_end_from_the_event(samples, load):
    """PORTAL_LOCKOUT_THRESHOLD / PORTAL_LOCKOUT_HOURS are identity's: the event carries their effect."""
    hu = _render(samples, load, "hu", "account_locked", failed_attempts=5, locked_until="2026-11-23T08:30:00+00:00")
    assert "egymás után 5 alkalommal" in hu.text and "2026. november 23. 09:30-ig" in hu.text
    assert "3 alkalommal" not in hu.text and "24" not in hu.text
    en = _render(samples, load, "en", "account_locked", failed_attempts=5, locked_until="2026-11-23T08:30:00+00:00")
    assert "5 times in a row" in en.text and "23 November 2026, 09:30" in en.text and "Logging in with it" in en.text


def test_initial_password_sms_carries_password_and_forced_change(samples, load, secrets):
    out = _render(samples, load, "hu", "initial_password")
    assert secrets["initial_password"] in out.text and "új jelszót kell választania" in out.text


def test_reset_mail_has_username_and_otp_but_reset_sms_has_no_password(samples, load, secrets):
    mail = _render(samples, load, "hu", "credentials_reset")
    assert "minta.anna" in mail.text and secrets["one_time_password"] in mail.text
    assert secrets["one_time_password"] in mail.html and "(a kiküldéstől számítva 24 óráig)" in mail.text
    sms = _render(samples, load, "hu", "reset_notice")
    assert secrets["one_time_password"] not in sms.text and "visszaállítottuk" in sms.text
    assert "+36 1 999 8877" in sms.text


def test_reset_mail_does_not_claim_the_lock_was_lifted(samples, load):
    """Only logging in with the one-time password lifts a lock (identity's login), not the reset itself."""
    hu = _render(samples, load, "hu", "credentials_reset")
    en = _render(samples, load, "en", "credentials_reset")
    for part in (hu.text, hu.html):
        assert "feloldottuk" not in part
        assert "a zárolás akkor szűnik meg, amikor ezzel a jelszóval belép" in part
    for part in (en.text, en.html):
        assert "has been lifted" not in part
        assert "the lock ends when you log in with this password" in part


def test_reset_mail_without_an_expiry_says_only_single_use(samples, load):
    out = _render(samples, load, "hu", "credentials_reset", expires_at=None)
    assert "A jelszó csak egyszer használható." in out.text and not LEFTOVER.search(out.text)


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


def test_a_delivery_recorded_before_valid_hours_existed_still_renders(secrets):
    """Rows recorded by the previous version have no ``valid_hours`` in their payload."""
    old_payload = {"username": "minta.anna", "activation_url": secrets["activation_url"],
                   "expires_at": "2026-11-22T10:00:00+00:00"}
    out = Renderer(SETTINGS).render("activation", EMAIL, "hu", old_payload)
    assert "2026. november 22. 11:00-ig érvényes" in out.text and not LEFTOVER.search(out.text + out.html)
