"""Sending e-mail: the port, an SMTP adapter (smtplib) and a fake.

``PORTAL_SMTP_URL`` forms: ``smtp://host:port`` (plain, e.g. a local relay or the dev sink),
``smtp://user:pass@host:587?starttls=1`` (STARTTLS + AUTH), ``smtps://user:pass@host:465`` (implicit TLS).
A user or password with plain ``smtp://`` (no STARTTLS) is refused with a ConfigError — the login would cross the
network in clear — unless the host is loopback (a dev sink).

Failures are classified for the delivery loop: SMTP 4xx, refused connections and timeouts are transient (retry with
back-off); a 5xx for the recipient or the message is permanent (RFC 5321 §4.2.1: 5yz = "do not repeat").
"""
from __future__ import annotations

import abc
import re
import smtplib
import socket
import threading
import time
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlparse

from ..domain.model import PermanentDeliveryError, TransientDeliveryError, mask_email
from ..settings import check_smtp_url


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # stable per delivery: a retry carries the same Message-ID, so receivers can drop a double


class Mailer(abc.ABC):
    @abc.abstractmethod
    def send(self, email: Email) -> None:
        """Hand the e-mail over; raise TransientDeliveryError or PermanentDeliveryError."""


class FakeMailer(Mailer):
    """Collects e-mails; ``fail_with`` makes the next sends raise (one error per send, in order)."""

    def __init__(self):
        self.sent: list[Email] = []
        self.fail_with: list[Exception] = []

    def send(self, email: Email) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(email)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> "SmtpConfig":
        """Raises ValueError for a malformed URL, ConfigError for credentials that would travel in clear."""
        p = urlparse(url)
        if p.scheme not in ("smtp", "smtps") or not p.hostname:
            raise ValueError("PORTAL_SMTP_URL must look like smtp://host:port or smtps://user:pass@host:465")
        check_smtp_url(url)
        query = {k: v[-1].lower() for k, v in parse_qs(p.query).items()}
        implicit = p.scheme == "smtps"
        starttls = not implicit and query.get("starttls", "0") in ("1", "true", "yes")
        return cls(host=p.hostname, port=p.port or (465 if implicit else 587 if starttls else 25),
                   implicit_tls=implicit, starttls=starttls,
                   username=unquote(p.username) if p.username else None,
                   password=unquote(p.password) if p.password else None)


class SmtpMailer(Mailer):
    """``tls_context``: for ``smtps://`` and STARTTLS; by default the system's trust store with hostname checks
    (a test passes one that trusts its own self-signed certificate)."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0, local_hostname: str | None = None,
                 tls_context: ssl.SSLContext | None = None, idle_seconds: float = 30.0):
        self.config = SmtpConfig.from_url(url)
        self.sender = sender
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        # One SMTP session serves many messages (connect, TLS and login once, not per e-mail); it is dropped after
        # ``idle_seconds`` without use, before the server would time it out.
        self.idle_seconds = idle_seconds
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()

    def build(self, email: Email) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = email.message_id
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
        msg.set_content(email.text)
        msg.add_alternative(email.html, subtype="html")
        return msg

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.implicit_tls:
            return smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, local_hostname=self.local_hostname,
                                    context=self.tls_context or ssl.create_default_context())
        return smtplib.SMTP(c.host, c.port, timeout=self.timeout, local_hostname=self.local_hostname)

    def _session(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._last_used > self.idle_seconds:
            self.close()
        if self._smtp is None:
            smtp = self._connect()
            try:
                if self.config.starttls:
                    smtp.starttls(context=self.tls_context or ssl.create_default_context())
                if self.config.username:
                    smtp.login(self.config.username, self.config.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(self, email: Email) -> None:
        with self._lock:
            self._send_locked(email)

    def _send_locked(self, email: Email) -> None:
        msg = self.build(email)
        who = mask_email(email.to)
        try:
            try:
                self._session().send_message(msg)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                # The kept session went stale (the server closed it): one fresh connection, then the verdict.
                self.close()
                self._session().send_message(msg)
            self._last_used = time.monotonic()
        except smtplib.SMTPRecipientsRefused as exc:
            self._last_used = time.monotonic()  # smtplib reset the session: it stays usable
            codes = [code for code, _ in exc.recipients.values()]
            reason = f"recipient {who} refused: SMTP {', '.join(map(str, codes))}"
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentDeliveryError(reason) from None
            raise TransientDeliveryError(reason) from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            # Our credentials are wrong: an operator fixes that, the message itself is fine. Retry.
            raise TransientDeliveryError(f"SMTP authentication failed: {exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            reason = f"SMTP {exc.smtp_code} for {who}: {_text(exc.smtp_error)}"
            if exc.smtp_code in _OUR_CONFIGURATION:
                # The server wants STARTTLS or a login we did not give: an operator fixes PORTAL_SMTP_URL, the
                # message itself is fine. Retry, like a failed login.
                raise TransientDeliveryError(f"{reason} (check PORTAL_SMTP_URL: TLS / credentials)") from None
            if 500 <= exc.smtp_code < 600:
                raise PermanentDeliveryError(reason) from None
            raise TransientDeliveryError(reason) from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            self.close()
            # Connection refused or reset, timeouts, the server went away: all worth another try.
            raise TransientDeliveryError(f"SMTP server unreachable: {type(exc).__name__}") from None


#: 530 authentication / STARTTLS required, 534 mechanism too weak, 535 credentials invalid, 538 encryption required
#: for the mechanism (RFC 4954 §6, RFC 3207 §4): about our connection settings, never about the message.
_OUR_CONFIGURATION = frozenset({530, 534, 535, 538})

_EMAIL_RE = re.compile(r"[^\s<>@]+@[^\s<>@]+")


def _text(raw) -> str:
    """The server's reply, one line, with any address in it masked (it goes to logs and events)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return _EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text.replace("\n", " "))[:200]


def new_message_id(delivery_id: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1].strip(" >") if "@" in sender else "portal.example"
    return f"<{delivery_id}@{domain}>" if delivery_id else make_msgid(domain=domain)
