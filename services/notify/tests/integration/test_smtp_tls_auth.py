"""The SMTP adapter against a real SMTP server (aiosmtpd) that offers STARTTLS and requires TLS before AUTH.

The server's certificate is self-signed, made here with ``cryptography`` for 127.0.0.1; the mailer gets a TLS
context that trusts exactly that certificate (production uses the system's trust store). Nothing external is needed.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notify.adapters.mailer import Email, SmtpMailer
from notify.domain.model import TransientDeliveryError
from portal_common.config import ConfigError
from portal_common.testing import free_port

USER, PASSWORD = "portal-mailer", "s3cret-Pa55word"
EMAIL = Email(to="anna.minta@example.org", subject="Próba – ő", text="Szöveg ű\n", html="<p>Szöveg ű</p>",
              message_id="<d-tls-1@portal.example>")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 / localhost: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal test SMTP")])
    # Valid whatever the date: OpenSSL checks the validity against the machine's real clock, which need not be the
    # one Python reads (a test run at a chosen instant, make test-timetravel). RFC 5280 4.1.2.5: 9999-12-31 23:59:59
    # is "no well-defined expiration date".
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
            .not_valid_after(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_pem, key_pem = folder / "cert.pem", folder / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


class Recorder:
    """Keeps every accepted message with what the session knew: TLS on, the authenticated user."""

    def __init__(self):
        self.received: list[dict] = []
        self.logins: list[tuple[str, bool]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append({"tls": session.ssl is not None, "user": session.auth_data, "rcpt": envelope.rcpt_tos,
                              "message": message_from_bytes(envelope.content, policy=policy.default)})
        return "250 Message accepted for delivery"


def authenticator(recorder: Recorder):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == USER
              and auth_data.password.decode() == PASSWORD)
        recorder.logins.append((mechanism, ok))
        return AuthResult(success=True, auth_data=USER) if ok else AuthResult(success=False, handled=False)
    return check


@pytest.fixture
def tls_server(certificate):
    """STARTTLS offered and required before anything else; AUTH only after TLS (aiosmtpd's auth_require_tls)."""
    cert_pem, key_pem = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_pem, key_pem)
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True,
                            auth_require_tls=True, auth_required=True, authenticator=authenticator(recorder))
    controller.start()
    recorder.port = port
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture
def client_ctx(certificate):
    ctx = ssl.create_default_context(cafile=str(certificate[0]))  # hostname checks stay on
    return ctx


def test_starttls_then_auth_then_one_message(tls_server, client_ctx):
    mailer = SmtpMailer(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{tls_server.port}?starttls=1",
                        "Ügyfélportál <no-reply@portal.example>", timeout=5, tls_context=client_ctx)
    mailer.send(EMAIL)
    [got] = tls_server.received
    assert got["tls"] is True and got["user"] == USER and got["rcpt"] == ["anna.minta@example.org"]
    msg = got["message"]
    assert msg["Message-ID"] == "<d-tls-1@portal.example>" and str(msg["Subject"]) == "Próba – ő"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert tls_server.logins == [("PLAIN", True)] or [ok for _m, ok in tls_server.logins] == [True]


def test_a_wrong_password_is_a_transient_error_that_names_no_secret(tls_server, client_ctx):
    mailer = SmtpMailer(f"smtp://{USER}:wrong-password@127.0.0.1:{tls_server.port}?starttls=1",
                        "no-reply@portal.example", timeout=5, tls_context=client_ctx)
    with pytest.raises(TransientDeliveryError) as info:
        mailer.send(EMAIL)
    assert info.value.reason == "SMTP authentication failed: 535"
    assert "wrong-password" not in info.value.reason and tls_server.received == []


def test_the_servers_certificate_is_verified(tls_server):
    """Without our test CA the self-signed certificate is refused (system trust store): nothing is sent, and the
    login never leaves the machine."""
    mailer = SmtpMailer(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{tls_server.port}?starttls=1",
                        "no-reply@portal.example", timeout=5)
    with pytest.raises(TransientDeliveryError, match="SSLCertVerificationError"):
        mailer.send(EMAIL)
    assert tls_server.received == [] and tls_server.logins == []


def test_a_server_that_requires_starttls_refuses_a_client_without_it_and_that_is_retried(tls_server):
    """530 "Must issue a STARTTLS command first" is our configuration, not the message: transient, like a failed
    login, so the e-mail goes out once PORTAL_SMTP_URL is fixed instead of failing for good."""
    mailer = SmtpMailer(f"smtp://127.0.0.1:{tls_server.port}", "no-reply@portal.example", timeout=5)
    with pytest.raises(TransientDeliveryError, match="SMTP 530") as info:
        mailer.send(EMAIL)
    assert "PORTAL_SMTP_URL" in info.value.reason and tls_server.received == []


def test_credentials_over_plain_smtp_are_refused_for_a_remote_host():
    with pytest.raises(ConfigError, match="in clear") as info:
        SmtpMailer(f"smtp://{USER}:{PASSWORD}@mail.example:587", "no-reply@portal.example")
    assert PASSWORD not in str(info.value)


def test_credentials_over_plain_smtp_on_loopback_work_with_a_dev_sink():
    """A dev sink on this machine without TLS: AUTH in clear is accepted because it never leaves the host."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=authenticator(recorder))
    controller.start()
    try:
        SmtpMailer(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}", "no-reply@portal.example", timeout=5).send(EMAIL)
    finally:
        controller.stop()
    [got] = recorder.received
    assert got["tls"] is False and got["user"] == USER
