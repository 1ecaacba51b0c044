"""Real servers for the integration tests: a fresh PostgreSQL database with notify's migrations, an SMTP server
(aiosmtpd) and an HTTP endpoint playing the SMS gateway, each on a free port."""
from __future__ import annotations

import json
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from portal_common.testing import free_port, migrate, temp_postgres_database

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


@pytest.fixture(scope="module")
def pg_url():
    with temp_postgres_database("notify") as url:
        migrate(ALEMBIC_INI, url)
        yield url


class SmtpSink:
    """Accepts every recipient except those in ``refuse`` (answered 550) and keeps the parsed messages."""

    def __init__(self):
        self.messages = []
        self.envelopes = []
        self.refuse: set[str] = set()
        self.port = None
        self.controller: Controller | None = None

    def stop(self) -> None:
        """An outage: nothing listens on the port until ``start``."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp_server():
    sink = SmtpSink()
    sink.port = free_port()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


class SmsEndpoint(ThreadingHTTPServer):
    """Answers with the statuses in ``script`` (then 200) and records each JSON body."""

    def __init__(self, port: int):
        super().__init__(("127.0.0.1", port), _SmsHandler)
        self.requests: list[dict] = []
        self.script: list[int] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/sms"


class _SmsHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.lock:
            self.server.requests.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                         "body": body})
            status = self.server.script.pop(0) if self.server.script else 200
        payload = json.dumps({"status": "queued" if status < 300 else "error"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def sms_server():
    server = SmsEndpoint(free_port())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
