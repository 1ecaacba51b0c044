"""The whole internal API through Flask's test client on real PostgreSQL (the policies service faked)."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, text

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.domain import commands
from identity.entrypoints.api import create_app
from identity.service_layer.common import sha256
from portal_common.testing import apply_event, caller_headers, require_postgres, unsealed

pytestmark = pytest.mark.database
TOKEN = caller_headers()


class Portal:
    def __init__(self, app, directory, clock):
        self.app, self.directory, self.clock = app, directory, clock
        self.client = app.test_client()
        self.wiring = app.extensions["identity"]

    def call(self, method, path, body=None, ip="192.0.2.1", headers=None):
        return self.client.open(path, method=method, json=body,
                                headers={**TOKEN, "X-Client-IP": ip, **(headers or {})})

    def customer(self, may_register=True) -> dict:
        """A new policyholder known to the (fake) policies service; returns the identification fields."""
        n = uuid.uuid4().hex[:8]
        ident = {"policy_number": f"KGFB-{n}", "name": "Minta Anna", "birth_name": "Példa Anna",
                 "birth_date": "1985-07-14", "birth_place": "Debrecen", "mother_name": "Teszt Mária"}
        self.directory.add(commands.Identification(**{**ident, "birth_date": date(1985, 7, 14)}),
                           Policyholder(f"C-{n}", None, None, may_register))
        return ident

    def outbox(self, event: str) -> list[dict]:
        with self.wiring.engine.connect() as conn:
            rows = conn.execute(text("SELECT payload FROM outbox WHERE event = :e ORDER BY seq"), {"e": event})
            return [json.loads(r.payload) for r in rows]

    def register(self, ident=None, username=None, mobile="06 30 123 4567", **extra):
        ident = ident or self.customer()
        username = username or "u" + uuid.uuid4().hex[:10]
        body = {**ident, "email": f"{username}@Example.com", "mobile": mobile, "username": username,
                "language": "hu", "accept_declaration": True, **extra}
        return self.call("POST", "/internal/registrations", body), username

    def active_user(self) -> tuple[str, str, str]:
        """(account_id, username, initial password)"""
        response, username = self.register()
        account_id = response.get_json()["account_id"]
        url = [e for e in self.outbox("account.activation_requested") if e["account_id"] == account_id][-1]
        assert self.call("POST", "/internal/activations/" + unsealed(url, "activation_url").rsplit("/", 1)[1]).status_code == 200
        password = [e for e in self.outbox("account.initial_password_issued") if e["account_id"] == account_id][-1]
        return account_id, username, unsealed(password, "initial_password")

    def login(self, username, password):
        return self.call("POST", "/internal/sessions", {"username": username, "password": password})


@pytest.fixture(scope="module")
def portal(database_url):
    directory, clock = FakePolicyDirectory(), FakeClock()
    app = create_app(database_url, directory=directory, clock=clock, hasher=fast_argon2())
    yield Portal(app, directory, clock)
    app.extensions["identity"].engine.dispose()


def field_codes(response) -> dict:
    body = response.get_json()
    assert body["error"] == "invalid"
    for errors in body["fields"].values():
        for error in errors:
            assert set(error) == {"code", "message_hu", "message_en"} and error["message_hu"] and error["message_en"]
    return {field: [e["code"] for e in errors] for field, errors in body["fields"].items()}


# ---------------------------------------------------------------------------------------------------- access
def test_the_service_token_is_required(portal):
    response = portal.client.get("/internal/accounts/x")
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"


# ---------------------------------------------------------------------------------------------- declarations
def test_declaration_lifecycle(portal):
    ident = portal.customer(may_register=False)  # declaring needs no eligible policy
    body = {**ident, "email": "Anna@Example.com", "language": "en"}
    created = portal.call("POST", "/internal/declarations", body)
    assert created.status_code == 201
    customer_id = created.get_json()["customer_id"]
    assert portal.call("POST", "/internal/declarations", body).get_json() == {"error": "already_declared"}
    current = portal.call("GET", f"/internal/declarations/{customer_id}").get_json()
    assert current["active"] is True and current["email"] == "anna@example.com"
    assert current["text_version"] == "2026-11" and current["declared_at"].endswith("+00:00")
    withdrawn = portal.call("POST", f"/internal/declarations/{customer_id}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.get_json()["active"] is False
    assert portal.call("GET", f"/internal/declarations/{customer_id}").get_json()["active"] is False
    assert [e for e in portal.outbox("customer.declaration_withdrawn") if e["customer_id"] == customer_id]
    assert portal.call("GET", "/internal/declarations/C-nobody").status_code == 404


def test_a_mismatch_gets_one_generic_answer_and_repeated_ones_are_throttled(portal):
    ident = portal.customer()
    for wrong in ({"name": "Minta Anikó"}, {"birth_date": "1985-07-15"}, {"mother_name": "Teszt Maria"},
                  {"policy_number": "NOPE-1"}, {"birth_place": "Debrecenn"}):
        response = portal.call("POST", "/internal/declarations",
                               {**ident, **wrong, "email": "a@example.com", "language": "hu"}, ip="198.51.100.23")
        assert (response.status_code, response.get_json()) == (422, {"error": "identification_failed"})
    throttled = portal.call("POST", "/internal/registrations", {**ident, "email": "a@example.com",
                            "mobile": "+36301234567", "username": "throttled.one"}, ip="198.51.100.23")
    assert throttled.status_code == 429 and throttled.get_json()["error"] == "throttled"
    assert 0 < throttled.get_json()["retry_after"] <= 15 * 60
    assert throttled.headers["Retry-After"] == str(throttled.get_json()["retry_after"])


def test_the_policies_service_being_down_is_503_not_a_mismatch(portal):
    portal.directory.down = True
    try:
        response, _ = portal.register()
    finally:
        portal.directory.down = False
    assert (response.status_code, response.get_json()) == (503, {"error": "unavailable"})


# ---------------------------------------------------------------------------------------------- registration
def test_invalid_fields_are_reported_per_field_in_both_languages_and_nothing_is_saved(portal):
    calls = portal.directory.calls
    response = portal.call("POST", "/internal/registrations", {
        "policy_number": "KGFB-1", "name": " ", "birth_name": "x", "birth_date": "14/07/1985",
        "birth_place": "x", "mother_name": "x", "email": "anna@", "mobile": "06 1 123 4567", "username": "a b",
        "language": "de"})
    assert response.status_code == 422
    assert field_codes(response) == {"name": ["required"], "birth_date": ["invalid_date"],
                                     "email": ["invalid_email"], "mobile": ["invalid_mobile"],
                                     "username": ["username_chars"],
                                     "language": ["invalid_language"]}
    assert portal.directory.calls == calls  # not even identified


def test_registration_normalises_the_mobile_and_e_mail(portal):
    response, username = portal.register(mobile="06 30 123 4567")
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == f"{username}@example.com"
    account = portal.call("GET", f"/internal/accounts/{body['account_id']}").get_json()
    assert account["mobile"] == "+36301234567" and account["status"] == "pending_activation"
    assert account["sms_status"] == "ok" and account["must_change_password"] is False


def test_registration_refusals(portal):
    assert portal.register(portal.customer(may_register=False))[0].get_json() == {"error": "not_eligible"}
    ident = portal.customer()
    first, username = portal.register(ident)
    assert first.status_code == 201
    again, _ = portal.register(ident)
    assert (again.status_code, again.get_json()) == (422, {"error": "activation_pending"})
    taken, _ = portal.register(username=username.upper())
    assert taken.status_code == 422 and field_codes(taken) == {"username": ["username_taken"]}


# ------------------------------------------------------------------------------------------------ activation
def test_activation_link_single_use_and_expiry(portal):
    response, username = portal.register()
    account_id = response.get_json()["account_id"]
    link = [e for e in portal.outbox("account.activation_requested") if e["account_id"] == account_id][-1]
    token = unsealed(link, "activation_url").rsplit("/", 1)[1]
    activated = portal.call("POST", "/internal/activations/" + token).get_json()
    assert activated == {"username": username, "account_id": account_id, "mobile": activated["mobile"], "sms": "queued"}
    assert activated["mobile"].startswith("+36")
    again = portal.call("POST", "/internal/activations/" + token)
    assert (again.status_code, again.get_json()) == (410, {"error": "used"})
    assert portal.call("POST", "/internal/activations/nonsense").get_json() == {"error": "unknown"}

    response, _ = portal.register()
    account_id = response.get_json()["account_id"]
    link = [e for e in portal.outbox("account.activation_requested") if e["account_id"] == account_id][-1]
    portal.clock.advance(hours=24)
    expired = portal.call("POST", "/internal/activations/" + unsealed(link, "activation_url").rsplit("/", 1)[1])
    assert (expired.status_code, expired.get_json()) == (410, {"error": "expired"})


def test_resend_answers_the_same_for_any_address(portal):
    response, username = portal.register()
    known = portal.call("POST", "/internal/registrations/resend", {"email": f"{username}@example.com"})
    unknown = portal.call("POST", "/internal/registrations/resend", {"email": "nobody@example.com"})
    assert (known.status_code, known.get_json()) == (unknown.status_code, unknown.get_json()) == (202, {})


# ----------------------------------------------------------------------------------------- login and sessions
def test_login_lockout_and_sessions(portal):
    account_id, username, password = portal.active_user()
    unknown = portal.login("no-such-user", "wrong-password-1")
    wrong = portal.login(username, "wrong-password-1")
    assert (unknown.status_code, unknown.get_json()) == (wrong.status_code, wrong.get_json()) \
        == (401, {"error": "invalid_credentials"})

    ok = portal.login(username, password)
    assert ok.status_code == 201
    session = ok.get_json()
    assert session["must_change_password"] is True and session["idle_timeout_s"] == 900
    assert session["account_id"] == account_id and session["username"] == username

    assert portal.login(username, "wrong-password-1").status_code == 401
    assert portal.login(username, "wrong-password-1").status_code == 401
    locked = portal.login(username, "wrong-password-1")
    assert locked.status_code == 423 and locked.get_json()["error"] == "locked"
    assert locked.get_json()["locked_until"].endswith("+00:00")
    assert portal.login(username, password).status_code == 423
    assert len([e for e in portal.outbox("account.locked") if e["account_id"] == account_id]) == 1

    portal.clock.advance(hours=24)
    sid = portal.login(username, password).get_json()["session_id"]
    portal.clock.advance(minutes=10)
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 200
    portal.clock.advance(minutes=10)  # 20 minutes since login, 10 since the last use
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 200
    portal.clock.advance(minutes=15)
    expired = portal.call("GET", f"/internal/sessions/{sid}")
    assert (expired.status_code, expired.get_json()) == (404, {"error": "expired"})

    sid = portal.login(username, password).get_json()["session_id"]
    assert portal.call("DELETE", f"/internal/sessions/{sid}").status_code == 204
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 404


def test_a_page_view_writes_the_idle_timer_at_most_once_a_minute(portal):
    account_id, username, password = portal.active_user()
    sid = portal.login(username, password).get_json()["session_id"]

    def stored():
        with portal.wiring.engine.connect() as conn:
            return conn.execute(text("SELECT last_seen_at, xmin::text FROM login_sessions WHERE account_id = :a"),
                                {"a": account_id}).one()

    at_login = stored()
    portal.clock.advance(seconds=30)
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 200
    assert stored() == at_login  # same value and same row version: no UPDATE at all
    portal.clock.advance(seconds=30)
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 200
    assert stored().last_seen_at > at_login.last_seen_at
    portal.clock.advance(minutes=15)
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 404


def test_the_session_check_says_whether_the_customer_has_an_active_declaration(portal):
    account_id, username, password = portal.active_user()  # registered with the declaration accepted
    customer_id = portal.call("GET", f"/internal/accounts/{account_id}").get_json()["customer_id"]
    sid = portal.login(username, password).get_json()["session_id"]
    live = portal.call("GET", f"/internal/sessions/{sid}").get_json()
    assert live == {"session_id": sid, "account_id": account_id, "customer_id": customer_id, "username": username,
                    "must_change_password": True, "idle_timeout_s": 900, "declaration_active": True}
    assert portal.call("POST", f"/internal/declarations/{customer_id}/withdraw").status_code == 200
    assert portal.call("GET", f"/internal/sessions/{sid}").get_json()["declaration_active"] is False


def test_after_postgresql_dropped_every_connection_the_next_page_view_is_answered(portal):
    """A PostgreSQL restart (here: every backend of the database terminated) must not cost a customer an error.
    The session check is a read (``portal_common.db.read``: no ping before it, asked again once on a fresh
    connection when the old one is found dead); writes go through the pool that pings a connection before lending
    it."""
    account_id, username, password = portal.active_user()
    sid = portal.login(username, password).get_json()["session_id"]
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 200  # the pool holds a live connection
    name = portal.wiring.engine.url.database
    admin = create_engine(require_postgres(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name}).scalar()
    admin.dispose()
    assert ended >= 1
    for _ in range(3):
        assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 200


def test_password_change(portal):
    account_id, username, password = portal.active_user()
    here = portal.login(username, password).get_json()["session_id"]
    elsewhere = portal.login(username, password).get_json()["session_id"]
    bad = portal.call("POST", f"/internal/accounts/{account_id}/password",
                      {"current_password": password, "new_password": "short"})
    assert bad.status_code == 422
    assert bad.get_json()["fields"]["new_password"][0] == {
        "code": "too_short", "message_hu": "A jelszó legalább 12 karakter legyen.",
        "message_en": "The password must be at least 12 characters long."}
    assert field_codes(portal.call("POST", f"/internal/accounts/{account_id}/password",
                                   {"current_password": password, "new_password": "jelszo123456"})) \
        == {"new_password": ["common_password"]}
    changed = portal.call("POST", f"/internal/accounts/{account_id}/password",
                          {"current_password": password, "new_password": "Sajat-Jelszo-2026"},
                          headers={"X-Session-ID": here})
    assert changed.status_code == 204
    assert portal.call("GET", f"/internal/sessions/{here}").get_json()["must_change_password"] is False
    assert portal.call("GET", f"/internal/sessions/{elsewhere}").status_code == 404
    assert portal.login(username, "Sajat-Jelszo-2026").status_code == 201
    assert [e for e in portal.outbox("account.password_changed") if e["account_id"] == account_id]


def test_every_way_of_ending_sessions_writes_one_sessions_ended_row_without_a_secret(portal):
    """Issue 9: the gateway forgets what it cached for an account when identity says its sessions ended."""
    account_id, username, password = portal.active_user()
    customer_id = portal.call("GET", f"/internal/accounts/{account_id}").get_json()["customer_id"]

    def rows():
        return [e for e in portal.outbox("account.sessions_ended") if e["account_id"] == account_id]

    sessions = [portal.login(username, password).get_json()["session_id"] for _ in range(3)]
    assert rows() == []
    assert portal.call("DELETE", f"/internal/sessions/{sessions[0]}").status_code == 204
    assert portal.call("DELETE", f"/internal/sessions/{sessions[0]}").status_code == 204  # gone: nothing more
    new_password = "Sajat-Jelszo-2026"
    assert portal.call("POST", f"/internal/accounts/{account_id}/password",
                       {"current_password": password, "new_password": new_password},
                       headers={"X-Session-ID": sessions[1]}).status_code == 204
    sessions.append(portal.login(username, new_password).get_json()["session_id"])
    assert portal.call("POST", "/internal/recovery", {"email": f"{username}@example.com", "mobile": "06 30 123 4567"},
                       ip="198.51.100.90").status_code == 202
    sessions.append(portal.login(username, new_password).get_json()["session_id"])
    assert portal.call("POST", f"/internal/accounts/{account_id}/close", {"password": new_password}).status_code == 204
    now = portal.clock.now().isoformat()
    assert rows() == [{"account_id": account_id, "customer_id": customer_id, "reason": reason, "ended_at": now}
                      for reason in ("logout", "password_changed", "credentials_reset", "account_closed")]
    with portal.wiring.engine.connect() as conn:
        stored = conn.execute(text("SELECT payload FROM outbox WHERE event = 'account.sessions_ended'")).scalars().all()
    for secret in (*sessions, *map(sha256, sessions), password, new_password):
        assert all(secret not in payload for payload in stored)


# ----------------------------------------------------------------------------------------------------- recovery
def test_recovery_answers_the_same_and_the_one_time_password_works_once(portal):
    account_id, username, password = portal.active_user()
    sid = portal.login(username, password).get_json()["session_id"]
    for _ in range(3):
        portal.login(username, "wrong-password-1")  # locked
    email = f"{username}@example.com"
    matched = portal.call("POST", "/internal/recovery", {"email": email.upper(), "mobile": "+36 30 123 4567"})
    unmatched = portal.call("POST", "/internal/recovery", {"email": email, "mobile": "+36 20 000 0000"})
    assert (matched.status_code, matched.get_data()) == (unmatched.status_code, unmatched.get_data())
    assert matched.status_code == 202 and matched.get_json() == {}
    [reset] = [e for e in portal.outbox("account.credentials_reset") if e["account_id"] == account_id]
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 404  # every session ended

    otp_login = portal.login(username, unsealed(reset, "one_time_password"))
    assert otp_login.status_code == 201 and otp_login.get_json()["must_change_password"] is True  # lock lifted
    assert portal.login(username, unsealed(reset, "one_time_password")).status_code == 401  # single use
    assert portal.call("POST", f"/internal/accounts/{account_id}/password", {
        "current_password": unsealed(reset, "one_time_password"), "new_password": "Visszaszerzett-77"}).status_code == 204


# ------------------------------------------------------------------------------------------------- closing
def test_closing_the_account(portal):
    account_id, username, password = portal.active_user()
    sid = portal.login(username, password).get_json()["session_id"]
    wrong = portal.call("POST", f"/internal/accounts/{account_id}/close", {"password": "not-it-123456"})
    assert wrong.status_code == 422 and field_codes(wrong) == {"password": ["wrong_password"]}
    assert portal.call("POST", f"/internal/accounts/{account_id}/close", {"password": password}).status_code == 204
    assert portal.call("GET", f"/internal/sessions/{sid}").status_code == 404
    assert portal.login(username, password).get_json() == {"error": "invalid_credentials"}
    assert portal.call("GET", f"/internal/accounts/{account_id}").get_json()["status"] == "closed"
    assert [e for e in portal.outbox("account.closed") if e["account_id"] == account_id]


# ------------------------------------------------------------------------------------------- bus: sms failed
def test_an_undeliverable_initial_password_sms_shows_on_the_account(portal):
    account_id, _, _ = portal.active_user()
    apply_event(portal.wiring.bus, portal.wiring.session_factory, "notification.failed",
                {"channel": "sms", "template": "initial_password", "cause_event": "account.activated",
                 "account_id": account_id})
    assert portal.call("GET", f"/internal/accounts/{account_id}").get_json()["sms_status"] == "failed"


def test_secrets_never_reach_the_log(portal, caplog):
    caplog.set_level("DEBUG")  # successful internal requests are logged at DEBUG only
    response, username = portal.register()
    account_id = response.get_json()["account_id"]
    link = [e for e in portal.outbox("account.activation_requested") if e["account_id"] == account_id][-1]
    token = unsealed(link, "activation_url").rsplit("/", 1)[1]
    portal.call("POST", "/internal/activations/" + token)
    password = unsealed([e for e in portal.outbox("account.initial_password_issued") if e["account_id"] == account_id][-1], "initial_password")
    sid = portal.login(username, password).get_json()["session_id"]
    portal.call("GET", f"/internal/sessions/{sid}")
    portal.call("DELETE", f"/internal/sessions/{sid}")
    logged = caplog.text
    assert "account_activated" in logged and "/internal/sessions/<session_id>" in logged  # the log was captured
    for secret in (token, password, sid):
        assert secret not in logged


# ------------------------------------------------------------------------------------------ audit follow-ups
def customer_id_of(ident: dict) -> str:
    return "C-" + ident["policy_number"].split("-", 1)[1]


def test_registration_needs_the_declaration_accepted_reported_with_the_other_field_errors(portal):
    _, taken = portal.register()
    ident = portal.customer()
    refused, _ = portal.register(ident, username=taken.upper(), accept_declaration=False)
    assert refused.status_code == 422
    assert field_codes(refused) == {"username": ["username_taken"], "accept_declaration": ["required"]}
    assert refused.get_json()["fields"]["accept_declaration"] == [{
        "code": "required",
        "message_hu": "A regisztrációhoz fogadja el az elektronikus kapcsolattartásról szóló nyilatkozatot.",
        "message_en": "To register, accept the declaration on electronic communication."}]
    missing, _ = portal.register(ident, accept_declaration=None)
    assert field_codes(missing) == {"accept_declaration": ["required"]}
    customer_id = customer_id_of(ident)
    assert portal.call("GET", f"/internal/declarations/{customer_id}").status_code == 404  # nothing saved

    accepted, _ = portal.register(ident, accept_declaration=True)
    assert accepted.status_code == 201
    declaration = portal.call("GET", f"/internal/declarations/{customer_id}").get_json()
    assert declaration["channel"] == "registration" and declaration["active"] is True


def test_whoever_declared_registers_without_accepting_again(portal):
    ident = portal.customer()
    assert portal.call("POST", "/internal/declarations", {**ident, "email": "d@example.com"}).status_code == 201
    response, _ = portal.register(ident, accept_declaration=False)
    assert response.status_code == 201
    assert portal.call("GET", f"/internal/declarations/{customer_id_of(ident)}").get_json()["channel"] == "portal"


def test_a_pending_account_blocks_until_its_link_expires_then_a_new_registration_replaces_it(portal):
    ident = portal.customer()
    first, username = portal.register(ident)
    old_id = first.get_json()["account_id"]
    again, _ = portal.register(ident)
    assert (again.status_code, again.get_json()) == (422, {"error": "activation_pending"})
    portal.clock.advance(hours=24)
    replaced, _ = portal.register(ident, username=username)  # the same name is free again
    assert replaced.status_code == 201
    new_id = replaced.get_json()["account_id"]
    assert portal.call("GET", f"/internal/accounts/{old_id}").get_json()["status"] == "expired"
    assert portal.call("GET", f"/internal/accounts/{new_id}").get_json()["username"] == username
    link = [e for e in portal.outbox("account.activation_requested") if e["account_id"] == new_id][-1]
    assert portal.call("POST", "/internal/activations/" + unsealed(link, "activation_url").rsplit("/", 1)[1]).status_code == 200
    portal.clock.advance(hours=48)
    active, _ = portal.register(ident)
    assert (active.status_code, active.get_json()) == (422, {"error": "already_registered"})


def test_withdrawal_without_a_portal_login(portal):
    ident = portal.customer(may_register=False)
    created = portal.call("POST", "/internal/declarations", {**ident, "email": "w@example.com"}).get_json()
    withdrawn = portal.call("POST", "/internal/declarations/withdraw", ident, ip="198.51.100.60")
    assert withdrawn.status_code == 200
    body = withdrawn.get_json()
    assert body == {"declaration_id": created["declaration_id"], "customer_id": created["customer_id"],
                    "withdrawn_at": body["withdrawn_at"]} and body["withdrawn_at"].endswith("+00:00")
    again = portal.call("POST", "/internal/declarations/withdraw", ident, ip="198.51.100.60")
    assert (again.status_code, again.get_json()) == (404, {"error": "no_declaration"})
    assert len([e for e in portal.outbox("customer.declaration_withdrawn")
                if e["declaration_id"] == created["declaration_id"]]) == 1
    never = portal.call("POST", "/internal/declarations/withdraw", portal.customer(), ip="198.51.100.60")
    assert (never.status_code, never.get_json()) == (404, {"error": "no_declaration"})
    mismatch = portal.call("POST", "/internal/declarations/withdraw", {**ident, "mother_name": "Valaki"},
                           ip="198.51.100.60")
    assert (mismatch.status_code, mismatch.get_json()) == (422, {"error": "identification_failed"})
    invalid = portal.call("POST", "/internal/declarations/withdraw", {**ident, "birth_date": "x"}, ip="198.51.100.60")
    assert invalid.status_code == 422 and field_codes(invalid) == {"birth_date": ["invalid_date"]}


def test_closing_the_account_withdraws_the_declaration_in_the_same_transaction(portal):
    account_id, username, password = portal.active_user()
    customer_id = portal.call("GET", f"/internal/accounts/{account_id}").get_json()["customer_id"]
    assert portal.call("GET", f"/internal/declarations/{customer_id}").get_json()["active"] is True
    assert portal.call("POST", f"/internal/accounts/{account_id}/close", {"password": password}).status_code == 204
    declaration = portal.call("GET", f"/internal/declarations/{customer_id}").get_json()
    assert declaration["active"] is False
    [closed] = [e for e in portal.outbox("account.closed") if e["account_id"] == account_id]
    [withdrawn] = [e for e in portal.outbox("customer.declaration_withdrawn") if e["customer_id"] == customer_id]
    assert withdrawn["withdrawn_at"] == closed["closed_at"] == declaration["withdrawn_at"]


def test_recovery_and_resend_share_a_per_client_allowance(portal):
    ip = "203.0.113.50"
    for _ in range(3):
        assert portal.call("POST", "/internal/recovery", {"email": "a@example.com", "mobile": "+36301234567"},
                           ip=ip).status_code == 202
    for _ in range(2):
        resent = portal.call("POST", "/internal/registrations/resend", {"email": "a@example.com"}, ip=ip)
        assert resent.status_code == 202
    for path, body in (("/internal/recovery", {"email": "b@example.com", "mobile": "+36201234567"}),
                       ("/internal/registrations/resend", {"email": "b@example.com"})):
        throttled = portal.call("POST", path, body, ip=ip)
        assert throttled.status_code == 429
        assert throttled.get_json() == {"error": "throttled", "retry_after": throttled.get_json()["retry_after"]}
        assert 0 < throttled.get_json()["retry_after"] <= 15 * 60
        assert throttled.headers["Retry-After"] == str(throttled.get_json()["retry_after"])
    assert portal.call("POST", "/internal/recovery", {"email": "a@example.com", "mobile": "+36301234567"},
                       ip="203.0.113.51").status_code == 202


def test_unknown_usernames_lock_like_known_ones_and_failed_logins_are_limited_per_client(portal):
    _, username, _ = portal.active_user()
    ip = "203.0.113.70"
    known = [portal.call("POST", "/internal/sessions", {"username": username, "password": "wrong-password-1"}, ip=ip)
             for _ in range(4)]
    unknown = [portal.call("POST", "/internal/sessions", {"username": "nobody." + username, "password": "wrong-1"},
                           ip=ip) for _ in range(4)]
    assert [(r.status_code, r.get_json()) for r in known] == [(r.status_code, r.get_json()) for r in unknown]
    assert [r.status_code for r in known] == [401, 401, 423, 423]
    for i in range(12):  # 20 failures in all from this client
        assert portal.call("POST", "/internal/sessions", {"username": f"spray{i}.{username}",
                                                          "password": "Tavasz2026!"}, ip=ip).status_code == 401
    sprayed = portal.call("POST", "/internal/sessions", {"username": "x", "password": "Tavasz2026!"}, ip=ip)
    assert sprayed.status_code == 429 and sprayed.get_json()["error"] == "throttled"
    assert portal.call("POST", "/internal/sessions", {"username": "x", "password": "y"},
                       ip="203.0.113.71").status_code == 401
