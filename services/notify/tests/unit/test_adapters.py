"""Adapters: SMTP URL forms, the e-mail's shape, transient vs permanent classification, masking."""
from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys

import pytest
import requests

from notify.adapters.mailer import Email, SmtpConfig, SmtpMailer
from notify.adapters.sms import HttpSmsGateway
from notify.domain.model import PermanentDeliveryError, TransientDeliveryError, mask_email, mask_phone, e164
from notify.settings import Settings
from portal_common.config import ConfigError
from portal_common.testing import free_port

EMAIL = Email(to="anna.minta@example.org", subject="Tárgy – ő", text="Szöveg ű\n", html="<p>Szöveg ű</p>",
              message_id="<d-1@portal.example>")


@pytest.mark.parametrize("url,expected", [
    ("smtp://127.0.0.1:1025", ("127.0.0.1", 1025, False, False, None, None)),
    ("smtp://mailer:s%40cret@mail.example:587?starttls=1", ("mail.example", 587, False, True, "mailer", "s@cret")),
    ("smtp://u:p@mail.example?starttls=1", ("mail.example", 587, False, True, "u", "p")),
    ("smtps://u:p@mail.example", ("mail.example", 465, True, False, "u", "p")),
])
def test_smtp_url_forms(url, expected):
    c = SmtpConfig.from_url(url)
    assert (c.host, c.port, c.implicit_tls, c.starttls, c.username, c.password) == expected


@pytest.mark.parametrize("url", [
    "smtp://u:p@mail.example:587", "smtp://u:p@mail.example", "smtp://u@10.0.0.5:25",
    "smtp://u:p@mail.example:587?starttls=0", "smtp://:p@192.168.1.20:25",
])
def test_credentials_over_plain_smtp_to_another_host_are_refused(url, monkeypatch):
    with pytest.raises(ConfigError, match="in clear") as info:
        SmtpConfig.from_url(url)
    assert ":p@" not in str(info.value)  # the message never repeats the password
    monkeypatch.setenv("PORTAL_SMTP_URL", url)
    with pytest.raises(ConfigError, match="smtps://user:password@host:465"):
        Settings.from_env()  # the worker reads its settings first thing: it refuses to start


@pytest.mark.parametrize("url", [
    "smtp://u:p@127.0.0.1:1025", "smtp://u:p@localhost:1025", "smtp://u:p@[::1]:1025", "smtp://u:p@127.0.0.2:25",
    "smtps://u:p@mail.example", "smtp://u:p@mail.example?starttls=1", "smtp://mail.example:25",
])
def test_tls_or_loopback_or_no_credentials_are_accepted(url, monkeypatch):
    SmtpConfig.from_url(url)
    monkeypatch.setenv("PORTAL_SMTP_URL", url)
    assert Settings.from_env().smtp_url == url


def test_the_worker_does_not_start_with_credentials_in_clear(tmp_path):
    env = dict(os.environ, PORTAL_SMTP_URL="smtp://mailer:s3cret@mail.example:587", PORTAL_VAR_DIR=str(tmp_path))
    env.pop("PORTAL_AMQP_URL", None)
    done = subprocess.run([sys.executable, "-m", "notify.entrypoints.worker"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert "ConfigError: PORTAL_SMTP_URL" in done.stderr and "s3cret" not in done.stderr


def test_smtp_url_must_be_smtp():
    with pytest.raises(ValueError):
        SmtpConfig.from_url("http://mail.example")


def test_email_is_multipart_alternative_with_message_id():
    msg = SmtpMailer("smtp://127.0.0.1:1025", "Ügyfélportál <no-reply@portal.example>").build(EMAIL)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"] == "<d-1@portal.example>" and msg["To"] == "anna.minta@example.org"
    assert str(msg["Subject"]) == "Tárgy – ő" and "no-reply@portal.example" in str(msg["From"])


class _FakeSmtp:
    def __init__(self, error=None, fail_times=None):
        self.error = error
        self.fail_times = fail_times  # None: always; n: the first n sends
        self.sent = []
        self.closed = False

    def send_message(self, msg):
        if self.error is not None and (self.fail_times is None or self.fail_times > 0):
            if self.fail_times is not None:
                self.fail_times -= 1
            raise self.error
        self.sent.append(msg["To"])

    def quit(self):
        self.closed = True

    def close(self):
        self.closed = True


def test_one_smtp_session_serves_many_messages(monkeypatch):
    mailer = SmtpMailer("smtp://127.0.0.1:1025", "no-reply@portal.example")
    sessions = []
    monkeypatch.setattr(mailer, "_connect", lambda: sessions.append(_FakeSmtp()) or sessions[-1])
    for _ in range(3):
        mailer.send(EMAIL)
    assert len(sessions) == 1 and len(sessions[0].sent) == 3


def test_a_session_the_server_dropped_is_replaced_once(monkeypatch):
    mailer = SmtpMailer("smtp://127.0.0.1:1025", "no-reply@portal.example")
    sessions = [_FakeSmtp(smtplib.SMTPServerDisconnected("idle timeout"), fail_times=1), _FakeSmtp()]
    opened = iter(sessions)
    monkeypatch.setattr(mailer, "_connect", lambda: next(opened))
    mailer.send(EMAIL)
    assert sessions[0].closed and sessions[1].sent == [EMAIL.to]


def test_an_idle_session_is_closed_before_the_server_would(monkeypatch):
    mailer = SmtpMailer("smtp://127.0.0.1:1025", "no-reply@portal.example", idle_seconds=0)
    sessions = []
    monkeypatch.setattr(mailer, "_connect", lambda: sessions.append(_FakeSmtp()) or sessions[-1])
    mailer.send(EMAIL)
    mailer.send(EMAIL)
    assert len(sessions) == 2 and sessions[0].closed


@pytest.mark.parametrize("error,kind,reason", [
    (smtplib.SMTPRecipientsRefused({"anna.minta@example.org": (550, b"no such user")}), PermanentDeliveryError,
     "recipient a***@example.org refused: SMTP 550"),
    (smtplib.SMTPRecipientsRefused({"anna.minta@example.org": (450, b"mailbox busy")}), TransientDeliveryError,
     "recipient a***@example.org refused: SMTP 450"),
    (smtplib.SMTPDataError(554, b"rejected for <anna.minta@example.org>"), PermanentDeliveryError,
     "SMTP 554 for a***@example.org: rejected for <a***@example.org>"),
    (smtplib.SMTPDataError(421, b"try later"), TransientDeliveryError, "SMTP 421 for a***@example.org: try later"),
    (smtplib.SMTPServerDisconnected("gone"), TransientDeliveryError, "SMTP server unreachable: SMTPServerDisconnected"),
    (socket.timeout("timed out"), TransientDeliveryError, "SMTP server unreachable: TimeoutError"),
])
def test_smtp_failures_are_classified(monkeypatch, error, kind, reason):
    mailer = SmtpMailer("smtp://127.0.0.1:1025", "no-reply@portal.example")
    monkeypatch.setattr(mailer, "_connect", lambda: _FakeSmtp(error))
    with pytest.raises(kind) as info:
        mailer.send(EMAIL)
    assert info.value.reason == reason


def test_smtp_connection_refused_is_transient():
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", "no-reply@portal.example", timeout=2)
    with pytest.raises(TransientDeliveryError, match="unreachable: ConnectionRefusedError"):
        mailer.send(EMAIL)


class _Session:
    def __init__(self, status=None, error=None):
        self.status, self.error, self.calls = status, error, []

    def post(self, url, json, timeout):
        self.calls.append((url, json, timeout))
        if self.error:
            raise self.error
        response = requests.Response()
        response.status_code = self.status
        return response


@pytest.mark.parametrize("status,outcome", [
    (200, None), (202, None), (204, None),
    (400, PermanentDeliveryError), (404, PermanentDeliveryError), (422, PermanentDeliveryError),
    (429, TransientDeliveryError), (500, TransientDeliveryError), (503, TransientDeliveryError),
])
def test_sms_gateway_status_classification(status, outcome):
    session = _Session(status)
    gateway = HttpSmsGateway("http://sms.example/send?key=k", session=session)
    if outcome is None:
        gateway.send("+36301234567", "szia")
    else:
        with pytest.raises(outcome) as info:
            gateway.send("+36301234567", "szia")
        assert "key=k" not in info.value.reason and "szia" not in info.value.reason
    assert session.calls == [("http://sms.example/send?key=k", {"to": "+36301234567", "text": "szia"}, 10.0)]


@pytest.mark.parametrize("error", [requests.ConnectionError("refused http://sms.example/send?key=k"),
                                   requests.Timeout("slow")])
def test_sms_gateway_unreachable_is_transient_and_quotes_no_url(error):
    with pytest.raises(TransientDeliveryError) as info:
        HttpSmsGateway("http://sms.example/send?key=k", session=_Session(error=error)).send("+36301234567", "x")
    assert "key=k" not in info.value.reason


def test_sms_gateway_refused_connection_is_transient():
    with pytest.raises(TransientDeliveryError):
        HttpSmsGateway(f"http://127.0.0.1:{free_port()}/sms", timeout=2).send("+36301234567", "x")


@pytest.mark.parametrize("raw,expected", [
    ("+36301234567", "+36301234567"), (" +36301234567 ", "+36301234567"), ("+447700900123", "+447700900123"),
    ("+36 30 123 4567", None), ("06-30-123-4567", None), ("12ab", None), ("", None), (None, None), ("+36 1", None),
])
def test_phone_numbers_are_checked_for_the_e164_form_only(raw, expected):  # identity normalises them
    assert e164(raw) == expected


def test_masking():
    assert mask_email("anna.minta@example.org") == "a***@example.org"
    assert mask_phone("+36301234567") == "+3630***4567"
    assert mask_phone("+36 30 123 4567") == "+3630***4567"
    assert mask_email(None) == "-" and mask_phone("") == "-"
