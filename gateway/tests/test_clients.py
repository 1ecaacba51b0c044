"""The real HTTP clients against a small local HTTP server: headers sent, the one error table, streaming,
a service that is down. And: every real client method exists on its fake with the same parameters."""
from __future__ import annotations

import inspect
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask, Response, jsonify, request

from gateway.app import create_app
from gateway.clients import Clients, build_clients, documents, fakes, identity, notify, policies
from gateway.clients.http import (ERROR_TABLE, ActivationPending, AlreadyDeclared, Gone, IdentificationFailed,
                                  InvalidCredentials, InvalidFields, Locked, NoDeclaration, NotFound, RemoteError,
                                  ServiceUnavailable, SessionExpired, Throttled, error_for)
from portal_common.testing import free_port, wsgi_servers

SEEN: list[dict] = []
BIG = bytes(range(256)) * 4096  # 1 MiB


def _service() -> Flask:
    app = Flask("fake-service")

    @app.before_request
    def remember():
        SEEN.append({"path": request.path, "headers": dict(request.headers), "json": request.get_json(silent=True)})

    @app.post("/internal/sessions")
    def login():
        body = request.get_json()
        if body["username"] == "locked":
            return jsonify(error="locked", locked_until="2026-11-22T13:05:00+00:00"), 423
        if body["username"] == "busy":
            return jsonify(error="throttled", retry_after=125), 429
        if body["password"] != "right":
            return jsonify(error="invalid_credentials"), 401
        return jsonify(session_id="s1", account_id="A1", customer_id="C1", username="anna",
                       must_change_password=False, idle_timeout_s=900), 201

    @app.get("/internal/sessions/<sid>")
    def session(sid):
        return jsonify(error="expired"), 404

    @app.post("/internal/registrations")
    def register():
        if request.get_json().get("username") == "pending":
            return jsonify(error="activation_pending"), 422
        return jsonify(error="invalid", fields={"username": [{"code": "username_taken", "message_hu": "Foglalt.",
                                                              "message_en": "Taken."}]}), 422

    @app.post("/internal/declarations")
    def declare():
        return jsonify(error="already_declared"), 409

    @app.post("/internal/declarations/withdraw")
    def withdraw_identified():
        body = request.get_json()
        if body["policy_number"] == "NONE":
            return jsonify(error="no_declaration"), 404
        if body["policy_number"] == "WRONG":
            return jsonify(error="identification_failed"), 422
        return jsonify(declaration_id="D1", customer_id="C1", withdrawn_at="2026-11-21T10:00:00+00:00")

    @app.get("/internal/customers/<cid>/documents")
    def documents_list(cid):
        return jsonify(documents=[], unread=0, args=request.args.to_dict())

    @app.post("/internal/activations/<token>")
    def activate(token):
        return jsonify(error="used"), 410

    @app.get("/internal/customers/<cid>/documents/<did>/content")
    def content(cid, did):
        if did == "expired":
            return jsonify(error="expired"), 410
        return Response(iter([BIG[i:i + 65536] for i in range(0, len(BIG), 65536)]), mimetype="application/pdf",
                        headers={"Content-Length": str(len(BIG)), "X-Document-SHA256": "abc"})

    @app.get("/internal/customers/<cid>/policies")
    def boom(cid):
        return "<html>proxy error</html>", 502

    @app.get("/healthz")
    def healthz():
        return jsonify(status="alive")

    return app


@pytest.fixture(scope="module")
def base_url():
    with wsgi_servers() as start:
        yield start(_service())


def test_headers_and_login_mapping(base_url):
    client = identity.IdentityClient(base_url, "the-token")
    app = create_app({"CLIENTS": fakes.fake_clients()})
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        from portal_common import logs

        cid = logs.bind_correlation_id(None)
        SEEN.clear()
        assert client.login("anna", "right")["session_id"] == "s1"
        headers = SEEN[0]["headers"]
        assert headers["X-Service-Token"] == "the-token"
        assert headers["X-Correlation-Id"] == cid
        assert headers["X-Client-Ip"] == "203.0.113.9"
        with pytest.raises(InvalidCredentials):
            client.login("anna", "wrong")
        with pytest.raises(Locked) as locked:
            client.login("locked", "x")
        assert locked.value.locked_until == "2026-11-22T13:05:00+00:00"
        with pytest.raises(SessionExpired):
            client.get_session("gone")
        with pytest.raises(InvalidFields) as invalid:
            client.register({"username": "x"})
        assert invalid.value.fields["username"][0]["message_en"] == "Taken."
        with pytest.raises(AlreadyDeclared):
            client.create_declaration({})
        with pytest.raises(Gone) as gone:
            client.activate("tok")
        assert gone.value.code == "used"
        with pytest.raises(NotFound):
            client.activate("../sessions/x?y")  # quoted: a token can never reach another route
        assert SEEN[-1]["path"].startswith("/internal/activations/")


def test_new_identity_answers(base_url):
    client = identity.IdentityClient(base_url, "t")
    with pytest.raises(Throttled) as throttled:
        client.login("busy", "x")
    assert throttled.value.retry_minutes == 3
    with pytest.raises(ActivationPending):
        client.register({"username": "pending"})
    data = {"policy_number": "KGFB-1", "name": "Minta Anna", "birth_name": "Minta Anna", "birth_date": "1985-04-12",
            "birth_place": "Szeged", "mother_name": "Példa Mária"}
    assert client.withdraw_declaration_identified(data)["withdrawn_at"] == "2026-11-21T10:00:00+00:00"
    assert SEEN[-1]["path"] == "/internal/declarations/withdraw" and SEEN[-1]["json"] == data
    with pytest.raises(NoDeclaration):
        client.withdraw_declaration_identified({**data, "policy_number": "NONE"})
    with pytest.raises(IdentificationFailed):
        client.withdraw_declaration_identified({**data, "policy_number": "WRONG"})


def test_documents_list_sends_limit_and_a_nonzero_offset_only(base_url):
    client = documents.DocumentsClient(base_url, "t")
    assert client.list("C1", limit=21, offset=0)["args"] == {"limit": "21"}  # works with a service before paging
    assert client.list("C1", doc_type="other", limit=21, offset=40)["args"] == {
        "doc_type": "other", "limit": "21", "offset": "40"}


def test_streaming_content_and_gone(base_url):
    client = documents.DocumentsClient(base_url, "t")
    content = client.open_content("C1", "D1")
    assert content.length == len(BIG) and content.sha256 == "abc"
    chunks = list(content.chunks)
    content.close()
    assert b"".join(chunks) == BIG and len(chunks) > 1
    with pytest.raises(Gone):
        client.open_content("C1", "expired")


class _KeepAliveService(BaseHTTPRequestHandler):
    """Like gunicorn, and unlike werkzeug's test server, keeps the connection open between requests (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        if self.path.split("?")[0].endswith("/content"):
            body, kind = BIG, "application/pdf"
        else:
            body, kind = json.dumps({"documents": [], "unread": 0, "port": self.client_address[1],
                                     "path": self.path}).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client hung up halfway through a document

    def log_message(self, *args):
        pass


@pytest.fixture
def keep_alive_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveService)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_calls_reuse_open_connections_and_a_stream_closed_halfway_spoils_no_later_call(keep_alive_url):
    client = documents.DocumentsClient(keep_alive_url, "t")
    ports = []
    for limit in range(1, 4):
        content = client.open_content("C1", "D1")
        assert next(iter(content.chunks)) == BIG[:documents.CHUNK]
        content.close()  # the rest of the megabyte is never read: that connection must not be asked again
        for _ in range(2):
            listing = client.list("C1", limit=limit)
            assert listing["documents"] == [] and listing["path"].endswith(f"/documents?limit={limit}")
            ports.append(listing["port"])
    assert len(set(ports)) < len(ports)  # keep-alive: a later call came on a connection opened before


def test_json_body_and_query_parameters(base_url):
    client = identity.IdentityClient(base_url, "t")
    SEEN.clear()
    client.withdraw_declaration_identified({"policy_number": "KGFB-1", "name": "Ő Ügyfél"})
    assert SEEN[-1]["json"] == {"policy_number": "KGFB-1", "name": "Ő Ügyfél"}
    assert SEEN[-1]["headers"]["Content-Type"] == "application/json"
    listing = documents.DocumentsClient(base_url, "t").get_json("/internal/customers/C1/documents",
                                                                params={"a": None, "b": ["1", "2"], "c": "x y&z"})
    assert listing["args"] == {"b": "1", "c": "x y&z"}  # None left out; a list repeats (to_dict shows the first)


def test_5xx_and_unreachable_are_service_unavailable(base_url):
    with pytest.raises(ServiceUnavailable):
        policies.PoliciesClient(base_url, "t").customer_policies("C1")
    down = policies.PoliciesClient(f"http://127.0.0.1:{free_port()}", "t")
    with pytest.raises(ServiceUnavailable):
        down.customer_policies("C1")
    with pytest.raises(Exception):
        down.ping()
    policies.PoliciesClient(base_url, "t").ping()


def test_the_error_table():
    assert isinstance(error_for("identity", 422, {"error": "identification_failed"}), IdentificationFailed)
    assert isinstance(error_for("identity", 429, {"error": "throttled", "retry_after": 61}), Throttled)
    assert error_for("identity", 429, {"retry_after": 61}).retry_minutes == 2
    assert isinstance(error_for("documents", 404, {"error": "not_found"}), NotFound)
    assert isinstance(error_for("identity", 404, {"error": "no_declaration"}), NoDeclaration)
    assert not isinstance(error_for("identity", 404, {"error": "no_declaration"}), NotFound)  # not the 404 page
    assert isinstance(error_for("identity", 422, {"error": "activation_pending"}), ActivationPending)
    assert type(error_for("identity", 403, {"error": "not_activated"})) is RemoteError  # identity never sends it
    assert isinstance(error_for("identity", 503, {"error": "unavailable"}), ServiceUnavailable)
    assert type(error_for("identity", 401, {"error": "unauthorized"})) is RemoteError
    assert all(issubclass(cls, RemoteError) for cls in ERROR_TABLE.values())


def test_default_base_urls(monkeypatch):
    monkeypatch.delenv("PORTAL_POLICIES_URL", raising=False)
    monkeypatch.setenv("PORTAL_DOCUMENTS_URL", "http://documents:8103")
    built = build_clients()
    assert built.identity.base_url == "http://127.0.0.1:8101"
    assert built.policies.base_url == "http://127.0.0.1:8102"
    assert built.documents.base_url == "http://documents:8103"
    assert built.notify.base_url == "http://127.0.0.1:8104"
    assert built.documents.timeout == (2.0, 10.0)


@pytest.mark.parametrize("real, fake", [
    (identity.IdentityClient, fakes.FakeIdentity), (policies.PoliciesClient, fakes.FakePolicies),
    (documents.DocumentsClient, fakes.FakeDocuments), (notify.NotifyClient, fakes.FakeNotify)])
def test_fakes_have_the_real_clients_methods(real, fake):
    from gateway.clients.http import ServiceClient

    base = set(vars(ServiceClient))
    for name, method in vars(real).items():
        if name.startswith("_") or not callable(method) or name in base:
            continue
        fake_method = getattr(fake, name, None)
        assert fake_method is not None, f"{fake.__name__} lacks {name}"
        assert list(inspect.signature(method).parameters) == list(inspect.signature(fake_method).parameters), name
    assert Clients  # the container the app takes in config["CLIENTS"]
