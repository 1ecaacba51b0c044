"""In-memory fakes of the service clients: same methods, same errors, no network.

Unit tests inject them (``create_app(config={"CLIENTS": fake_clients()})``); ``tests/test_clients.py`` checks that
every public method of a real client exists on its fake with the same parameters. Set ``down = True`` on a fake to
make every call raise :class:`ServiceUnavailable` (a service that is down).

The fakes keep state (accounts, sessions, documents) but never re-implement a service's rules (lockout, username
rules, password policy, one open account per customer): a test that needs such an answer scripts it —
``fakes.identity.fail["login"] = Locked(...)`` — exactly as identity would send it.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

from .documents import Content
from .http import (AlreadyDeclared, Gone, IdentificationFailed, InvalidCredentials, InvalidFields, NoDeclaration,
                   NotFound, ServiceUnavailable, SessionExpired)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _Fake:
    service = "fake"

    def __init__(self):
        self.down = False
        self.calls: list[tuple] = []

    def _call(self, name: str, *args) -> None:
        self.calls.append((name, *args))
        if self.down:
            raise ServiceUnavailable(self.service, 0, {"error": "unreachable"})

    def ping(self) -> None:
        self._call("ping")


def field_error(code: str, hu: str, en: str) -> dict:
    return {"code": code, "message_hu": hu, "message_en": en}


class FakeIdentity(_Fake):
    service = "identity"
    IDENTIFY_KEYS = ("policy_number", "name", "birth_name", "birth_date", "birth_place", "mother_name")

    def __init__(self):
        super().__init__()
        self.holders: dict[str, dict] = {}  # policy_number -> identification data + customer_id
        self.accounts: dict[str, dict] = {}  # account_id -> account
        self.passwords: dict[str, str] = {}  # account_id -> password (a fake: plain text)
        self.sessions: dict[str, str] = {}  # session_id -> account_id
        self.declarations: dict[str, dict] = {}  # customer_id -> declaration
        self.tokens: dict[str, str] = {}  # activation token -> account_id
        self.recoveries: list[tuple[str, str]] = []
        self.fail: dict[str, Exception] = {}  # method name -> error raised once by its next call (the script)
        #: identity's GET /internal/rules answer (its defaults); a test changes a number here
        self.rules_answer = {"lockout_threshold": 3, "lockout_hours": 24, "activation_ttl_hours": 24,
                             "otp_ttl_hours": 24, "session_idle_minutes": 15, "password_min_length": 12,
                             "callback_working_days": 2, "email_change_ttl_hours": 24, "mobile_code_ttl_minutes": 15}
        self.callbacks: dict[str, dict] = {}  # idempotency key -> request
        self.contact_changes: dict[str, tuple[str, str, str]] = {}  # token or "sms:<account>" -> (account, kind, value)

    def _call(self, name, *args):
        super()._call(name, *args)
        if name in self.fail:
            raise self.fail.pop(name)

    # test helpers -------------------------------------------------------------------------------------------
    def add_holder(self, customer_id="C-1", policy_number="KGFB-1", name="Minta Anna", birth_name="Minta Anna",
                   birth_date="1985-04-12", birth_place="Szeged", mother_name="Példa Mária"):
        self.holders[policy_number] = dict(customer_id=customer_id, policy_number=policy_number, name=name,
                                           birth_name=birth_name, birth_date=birth_date, birth_place=birth_place,
                                           mother_name=mother_name)

    def add_account(self, username="anna", password="correct horse battery", customer_id="C-1",
                    email="anna@example.com", mobile="+36301234567", must_change_password=False,
                    status="active", sms_status="ok") -> str:
        account_id = f"A-{len(self.accounts) + 1}"
        self.accounts[account_id] = dict(account_id=account_id, customer_id=customer_id, username=username,
                                         email=email, mobile=mobile, language="hu", status=status,
                                         must_change_password=must_change_password, sms_status=sms_status,
                                         created_at=_now().isoformat())
        self.passwords[account_id] = password
        return account_id

    def expire_all_sessions(self) -> None:
        self.sessions.clear()

    def _identify(self, data: dict) -> dict:
        holder = self.holders.get((data.get("policy_number") or "").strip())
        norm = lambda v: " ".join(str(v or "").split()).casefold()  # noqa: E731
        if holder is None or any(norm(holder[k]) != norm(data.get(k)) for k in self.IDENTIFY_KEYS):
            raise IdentificationFailed(self.service, 422, {"error": "identification_failed"})
        return holder

    def _account_by_username(self, username: str) -> dict | None:
        return next((a for a in self.accounts.values() if a["username"].lower() == username.lower()), None)

    def add_declaration(self, customer_id="C-1", email="anna@example.com", channel="declaration") -> dict:
        declaration = dict(declaration_id=str(uuid.uuid4()), customer_id=customer_id, email=email,
                           text_version="2026-11", declared_at=_now().isoformat(), active=True, channel=channel,
                           withdrawn_at=None)
        self.declarations[customer_id] = declaration
        return declaration

    def _withdraw(self, declaration: dict) -> None:
        declaration.update(active=False, withdrawn_at=_now().isoformat())

    # the client's methods -----------------------------------------------------------------------------------
    def rules(self) -> dict | None:
        self._call("rules")
        return self.rules_answer

    def create_declaration(self, data: dict) -> dict:
        self._call("create_declaration", data)
        holder = self._identify(data)
        existing = self.declarations.get(holder["customer_id"])
        if existing and existing["active"]:
            raise AlreadyDeclared(self.service, 409, {"error": "already_declared"})
        declaration = self.add_declaration(holder["customer_id"], data["email"])
        return {"declaration_id": declaration["declaration_id"], "customer_id": holder["customer_id"]}

    def get_declaration(self, customer_id: str) -> dict | None:
        self._call("get_declaration", customer_id)
        return self.declarations.get(customer_id)

    def withdraw_declaration(self, customer_id: str) -> dict:
        self._call("withdraw_declaration", customer_id)
        declaration = self.declarations.get(customer_id)
        if declaration is None:
            raise NotFound(self.service, 404, {"error": "not_found"})
        self._withdraw(declaration)
        return declaration

    def withdraw_declaration_identified(self, data: dict) -> dict:
        self._call("withdraw_declaration_identified", data)
        holder = self._identify(data)
        declaration = self.declarations.get(holder["customer_id"])
        if declaration is None or not declaration["active"]:
            raise NoDeclaration(self.service, 404, {"error": "no_declaration"})
        self._withdraw(declaration)
        return {"declaration_id": declaration["declaration_id"], "customer_id": holder["customer_id"],
                "withdrawn_at": declaration["withdrawn_at"]}

    def register(self, data: dict) -> dict:
        """Identified -> a pending account (and the declaration, when accepted). Identity's refusals (username taken,
        declaration required, activation pending, already registered) are scripted with ``fail["register"]``."""
        self._call("register", data)
        holder = self._identify(data)
        customer_id = holder["customer_id"]
        if data.get("accept_declaration") is True and not (self.declarations.get(customer_id) or {}).get("active"):
            self.add_declaration(customer_id, data["email"], channel="registration")
        account_id = self.add_account(username=data["username"], password="", customer_id=customer_id,
                                      email=data["email"], mobile=data["mobile"], status="pending_activation",
                                      must_change_password=True)
        self.tokens[f"tok-{account_id}"] = account_id
        return {"account_id": account_id, "email": data["email"]}

    def resend_activation(self, email: str) -> None:
        self._call("resend_activation", email)

    def activate(self, token: str) -> dict:
        self._call("activate", token)
        account_id = self.tokens.get(token)
        if account_id is None:
            raise Gone(self.service, 410, {"error": "unknown"})
        account = self.accounts[account_id]
        if account["status"] != "pending_activation":
            raise Gone(self.service, 410, {"error": "used"})
        account["status"] = "active"
        self.passwords[account_id] = "initial-password-123"
        return {"username": account["username"], "sms": "queued", "account_id": account_id,
                "mobile": account["mobile"]}

    def get_account(self, account_id: str) -> dict:
        self._call("get_account", account_id)
        if account_id not in self.accounts:
            raise NotFound(self.service, 404, {"error": "not_found"})
        return dict(self.accounts[account_id])

    def login(self, username: str, password: str) -> dict:
        self._call("login", username)
        account = self._account_by_username(username)
        if account is None or account["status"] != "active" or self.passwords[account["account_id"]] != password:
            # No lockout here: a locked answer (423) is scripted, ``fail["login"] = Locked(...)``.
            raise InvalidCredentials(self.service, 401, {"error": "invalid_credentials"})
        session_id = uuid.uuid4().hex
        self.sessions[session_id] = account["account_id"]
        return {"session_id": session_id, "account_id": account["account_id"], "customer_id": account["customer_id"],
                "username": account["username"], "must_change_password": account["must_change_password"],
                "idle_timeout_s": 900}

    def get_session(self, session_id: str) -> dict:
        self._call("get_session", session_id)
        account_id = self.sessions.get(session_id)
        if account_id is None:
            raise SessionExpired(self.service, 404, {"error": "expired"})
        account = self.accounts[account_id]
        declaration = self.declarations.get(account["customer_id"])
        return {"session_id": session_id, "account_id": account_id, "customer_id": account["customer_id"],
                "username": account["username"], "must_change_password": account["must_change_password"],
                "idle_timeout_s": 900, "declaration_active": bool(declaration and declaration["active"])}

    def logout(self, session_id: str) -> None:
        self._call("logout", session_id)
        self.sessions.pop(session_id, None)

    def change_password(self, account_id: str, current_password: str, new_password: str,
                        session_id: str | None = None) -> None:
        self._call("change_password", account_id)
        errors = {}
        if self.passwords.get(account_id) != current_password:
            errors["current_password"] = [field_error("wrong_password", "A jelenlegi jelszó nem megfelelő.",
                                                      "The current password is not correct.")]
        if errors:  # the password policy's errors are scripted: fail["change_password"] = InvalidFields(...)
            raise InvalidFields(self.service, 422, {"error": "invalid", "fields": errors})
        self.passwords[account_id] = new_password
        self.accounts[account_id]["must_change_password"] = False
        for sid in [s for s, a in self.sessions.items() if a == account_id and s != session_id]:
            del self.sessions[sid]  # ends the other sessions, keeps this browser's

    def recover(self, email: str, mobile: str) -> None:
        self._call("recover", email, mobile)
        self.recoveries.append((email, mobile))

    def close_account(self, account_id: str, password: str) -> None:
        self._call("close_account", account_id)
        if self.passwords.get(account_id) != password:
            raise InvalidFields(self.service, 422, {"error": "invalid", "fields": {"password": [field_error(
                "wrong_password", "A jelszó nem megfelelő.", "The password is not correct.")]}})
        self.accounts[account_id]["status"] = "closed"
        for sid in [s for s, a in self.sessions.items() if a == account_id]:
            del self.sessions[sid]
        declaration = self.declarations.get(self.accounts[account_id]["customer_id"])
        if declaration and declaration["active"]:
            self._withdraw(declaration)  # closing also withdraws the declaration: documents go by post again

    def request_callback(self, data: dict) -> dict:
        self._call("request_callback", data)
        if data["idempotency_key"] in self.callbacks:
            return {**self.callbacks[data["idempotency_key"]], "created": False}
        result = {"request_id": str(uuid.uuid4()), "due_on": "2026-12-08", "email": data["email"].lower(),
                  "created": True, "data": dict(data)}
        self.callbacks[data["idempotency_key"]] = result
        return result

    def _check_password(self, account_id: str, password: str) -> None:
        if self.passwords.get(account_id) != password:
            raise InvalidFields(self.service, 422, {"error": "invalid", "fields": {"password": [field_error(
                "wrong_password", "A jelszó nem megfelelő.", "The password is not correct.")]}})

    def request_email_change(self, account_id: str, password: str, email: str) -> dict:
        self._call("request_email_change", account_id, email)
        self._check_password(account_id, password)
        self.contact_changes[f"email-tok-{account_id}"] = (account_id, "email", email.lower())
        return {"kind": "email", "new_value": email.lower(), "expires_at": (_now() + timedelta(hours=24)).isoformat()}

    def confirm_email_change(self, token: str) -> dict:
        self._call("confirm_email_change", token)
        found = self.contact_changes.pop(token, None)
        if found is None:
            raise Gone(self.service, 410, {"error": "unknown"})
        account_id, _, value = found
        self.accounts[account_id]["email"] = value
        return self.get_account(account_id)

    def request_mobile_change(self, account_id: str, password: str, mobile: str) -> dict:
        self._call("request_mobile_change", account_id, mobile)
        self._check_password(account_id, password)
        self.contact_changes[f"sms:{account_id}"] = (account_id, "123456", mobile)
        return {"kind": "mobile", "new_value": mobile, "expires_at": (_now() + timedelta(minutes=15)).isoformat()}

    def confirm_mobile_change(self, account_id: str, code: str) -> dict:
        self._call("confirm_mobile_change", account_id, code)
        found = self.contact_changes.get(f"sms:{account_id}")
        if found is None:
            raise Gone(self.service, 410, {"error": "expired"})
        if code != found[1]:
            raise InvalidFields(self.service, 422, {"error": "invalid", "fields": {"code": [field_error(
                "wrong_code", "A kód nem megfelelő.", "The code is not correct.")]}})
        del self.contact_changes[f"sms:{account_id}"]
        self.accounts[account_id]["mobile"] = found[2]
        return self.get_account(account_id)

    def set_language(self, account_id: str, language: str) -> dict:
        self._call("set_language", account_id, language)
        self.accounts[account_id]["language"] = language
        return self.get_account(account_id)


class FakePolicies(_Fake):
    service = "policies"

    def __init__(self):
        super().__init__()
        self.policies: dict[str, dict] = {}
        self.holder_names: dict[str, str] = {}  # customer_id -> the policyholder's name

    def add_policy(self, policy_number="KGFB-1", customer_id="C-1", product="kgfb", payment_method="direct_debit",
                   epost=True, enrollable=False, status="active"):
        self.policies[policy_number] = dict(
            policy_number=policy_number, product=product, status=status, payment_method=payment_method,
            premium={"amount": 48000, "frequency": "annual"}, start_date="2024-03-01", customer_id=customer_id,
            epost=epost, enrollable=enrollable, qualifies_for_registration=payment_method != "cheque",
            updated_at=_now().isoformat())

    def customer_policies(self, customer_id: str) -> list[dict]:
        self._call("customer_policies", customer_id)
        return [dict(p) for p in self.policies.values() if p["customer_id"] == customer_id]

    def get_policy(self, policy_number: str) -> dict:
        self._call("get_policy", policy_number)
        policy = self.policies.get(policy_number)
        if policy is None:
            raise NotFound(self.service, 404, {"error": "not_found"})
        return {**policy, "policyholder": {"customer_id": policy["customer_id"], "name": self.holder_names.get(
            policy["customer_id"], "Minta Anna")}}

    def enrol(self, policy_number: str, customer_id: str) -> dict:
        self._call("enrol", policy_number, customer_id)
        policy = self.policies.get(policy_number)
        if policy is None or policy["customer_id"] != customer_id:
            raise NotFound(self.service, 404, {"error": "not_found"})
        if not policy["enrollable"]:
            from .http import Conflict
            raise Conflict(self.service, 409, {"error": "conflict"})
        policy.update(epost=True, enrollable=False)
        if policy["payment_method"] == "cheque":
            policy["payment_method"] = "bank_transfer"
        return dict(policy)


class FakeDocuments(_Fake):
    service = "documents"

    def __init__(self):
        super().__init__()
        self.docs: dict[str, dict] = {}
        self.contents: dict[str, bytes] = {}
        self.chunks_served = 0
        self.legacy = False  # True: the documents API before paging (no offset, no total)

    def add_document(self, customer_id="C-1", title="Kötvény 2026", content=b"%PDF-1.4 fake\n", policy_number="KGFB-1",
                     doc_type="policy_schedule", uploaded_at=None, expired=False, read=False, document_id=None,
                     content_type="application/pdf") -> str:
        document_id = document_id or str(uuid.uuid4())
        uploaded = uploaded_at or _now()
        self.docs[document_id] = dict(
            document_id=document_id, customer_id=customer_id, title=title, doc_type=doc_type,
            policy_number=policy_number, uploaded_at=uploaded.isoformat(),
            available_until=(uploaded + timedelta(days=396)).isoformat(), expired=expired, read=read,
            size=len(content), content_type=content_type, sha256=hashlib.sha256(content).hexdigest(),
            delivery={"arrived_at": uploaded.isoformat(), "announced_at": None, "first_opened_at": None,
                      "first_downloaded_at": None, "last_downloaded_at": None, "download_count": 0,
                      "reminder_sent_at": None})
        self.contents[document_id] = content
        return document_id

    def _public(self, doc: dict) -> dict:
        """A copy, as an HTTP answer is: a kept answer must not change with the fake's later state."""
        return {k: dict(v) if isinstance(v, dict) else v for k, v in doc.items() if k != "customer_id"}

    def list(self, customer_id: str, policy_number: str | None = None, doc_type: str | None = None,
             limit: int | None = None, offset: int | None = None, sort: str | None = None,
             order: str | None = None) -> dict:
        """Like the service: default limit 50, max 500. With ``legacy = True`` it plays the documents service
        that predates paging: ``offset`` is an unknown parameter (422 invalid) and there is no ``total``."""
        self._call("list", customer_id, policy_number, doc_type, limit, offset)
        if self.legacy and offset:
            raise InvalidFields(self.service, 422, {"error": "invalid", "fields": {"offset": ["Unknown field."]}})
        docs = [d for d in self.docs.values() if d["customer_id"] == customer_id
                and (not policy_number or d["policy_number"] == policy_number)
                and (not doc_type or d["doc_type"] == doc_type)]
        docs.sort(key=lambda d: d["uploaded_at"], reverse=True)
        if sort in ("type", "policy"):
            key = "doc_type" if sort == "type" else "policy_number"
            docs.sort(key=lambda d: d[key], reverse=order == "desc")  # stable: ties stay newest first
        elif order == "asc":
            docs.reverse()
        unread = sum(1 for d in docs if not d["read"] and not d["expired"])
        start, limit = offset or 0, min(limit or 50, 500)
        listing = {"documents": [self._public(d) for d in docs[start:start + limit]], "unread": unread}
        if not self.legacy:
            listing["total"] = len(docs)
        return listing

    def get(self, customer_id: str, document_id: str) -> dict:
        self._call("get", customer_id, document_id)
        doc = self.docs.get(document_id)
        if doc is None or doc["customer_id"] != customer_id:
            raise NotFound(self.service, 404, {"error": "not_found"})
        return self._public(doc)

    def open_content(self, customer_id: str, document_id: str, purpose: str = "download") -> Content:
        doc = self.get(customer_id, document_id)
        if doc["expired"]:
            raise Gone(self.service, 410, {"error": "expired"})
        data = self.contents[document_id]
        self.docs[document_id]["read"] = True
        record = self.docs[document_id]["delivery"]
        if purpose == "view":
            record["first_opened_at"] = record["first_opened_at"] or _now().isoformat()
        else:
            record["first_downloaded_at"] = record["first_downloaded_at"] or _now().isoformat()
            record["last_downloaded_at"] = _now().isoformat()
            record["download_count"] += 1

        def chunks(size: int = 4) -> Iterator[bytes]:
            # Small chunks on purpose: the tests see that the gateway passes a stream through.
            for start in range(0, len(data), size):
                self.chunks_served += 1
                yield data[start:start + size]

        return Content(content_type=doc["content_type"], length=len(data), sha256=doc["sha256"], chunks=chunks(),
                       close=lambda: None)


class FakeNotify(_Fake):
    service = "notify"

    def __init__(self):
        super().__init__()
        self.items: list[dict] = []

    def deliveries(self, to: str | None = None, limit: int = 50) -> list[dict]:
        self._call("deliveries", to, limit)
        return [d for d in self.items if not to or d["to"] == to][:limit]


def fake_clients():
    from . import Clients

    return Clients(identity=FakeIdentity(), policies=FakePolicies(), documents=FakeDocuments(), notify=FakeNotify())
