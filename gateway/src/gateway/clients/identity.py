"""Client of the identity service (declarations, accounts, sessions, recovery). Port 8101."""
from __future__ import annotations

import time
from urllib.parse import quote

from .http import NotFound, RemoteError, ServiceClient


def _seg(value: str) -> str:
    """A path segment from user input (tokens, ids): never let it change the path."""
    return quote(str(value), safe="")


class IdentityClient(ServiceClient):
    service = "identity"
    RULES_TTL_S = 300.0

    # The numbers of identity's rules (the pages explain them; the gateway keeps no copy)
    def rules(self) -> dict | None:
        """``{lockout_threshold, lockout_hours, activation_ttl_hours, otp_ttl_hours, session_idle_minutes,
        password_min_length}``, asked at most every 5 minutes per process; while identity cannot be asked, the last
        answer (None before the first one: the pages then leave the numbers out)."""
        cached = getattr(self, "_rules", None)
        if cached is not None and time.monotonic() - cached[0] < self.RULES_TTL_S:
            return cached[1]
        try:
            answer = self.get_json("/internal/rules")
        except RemoteError:
            return cached[1] if cached else None
        self._rules = (time.monotonic(), answer)
        return answer

    # Declarations on electronic communication (step 0)
    def create_declaration(self, data: dict) -> dict:
        """``{policy_number, name, birth_name, birth_date, birth_place, mother_name, email, language}``
        -> ``{declaration_id, customer_id}``."""
        return self.post_json("/internal/declarations", data)

    def get_declaration(self, customer_id: str) -> dict | None:
        """``{declaration_id, email, text_version, declared_at, active}`` or None when there is none."""
        try:
            return self.get_json(f"/internal/declarations/{_seg(customer_id)}")
        except NotFound:
            return None

    def withdraw_declaration(self, customer_id: str) -> dict:
        return self.post_json(f"/internal/declarations/{_seg(customer_id)}/withdraw")

    def withdraw_declaration_identified(self, data: dict) -> dict:
        """The public withdrawal (someone who declared but never registered): ``{policy_number, name, birth_name,
        birth_date, birth_place, mother_name}`` -> ``{declaration_id, customer_id, withdrawn_at}``; 422
        ``identification_failed`` raises IdentificationFailed, 404 ``no_declaration`` NoDeclaration, 429 Throttled."""
        return self.post_json("/internal/declarations/withdraw", data)

    # Registration and activation (step 1)
    def register(self, data: dict) -> dict:
        """``{policy_number, name, birth_name, birth_date, birth_place, mother_name, email, mobile, username,
        language, accept_declaration}`` -> ``{account_id, email}``. A customer without an active declaration makes it
        here (``accept_declaration: true``, else 422 ``invalid`` with an ``accept_declaration`` field error); 422
        ``activation_pending`` when their earlier registration still awaits activation with a valid link."""
        return self.post_json("/internal/registrations", data)

    def resend_activation(self, email: str) -> None:
        """Always 202 whatever the address (429 Throttled possible: the page must not show it)."""
        self.post_json("/internal/registrations/resend", {"email": email})

    def activate(self, token: str) -> dict:
        """-> ``{username, sms: "queued", ...}``; 410 ``expired|used|unknown`` raises Gone."""
        return self.post_json(f"/internal/activations/{_seg(token)}")

    def get_account(self, account_id: str) -> dict:
        return self.get_json(f"/internal/accounts/{_seg(account_id)}")

    # Sessions (step 2)
    def login(self, username: str, password: str) -> dict:
        """-> ``{session_id, account_id, customer_id, username, must_change_password, idle_timeout_s}``; 401
        ``invalid_credentials`` (also for an account awaiting activation), 423 ``locked``, 429 ``throttled``."""
        return self.post_json("/internal/sessions", {"username": username, "password": password})

    def get_session(self, session_id: str) -> dict:
        """Validates the session and slides its idle timer; SessionExpired when it is gone. -> ``{session_id,
        account_id, customer_id, username, must_change_password, idle_timeout_s, declaration_active}``
        (``declaration_active``: the customer has an active declaration — ``/home`` needs no call of its own)."""
        return self.get_json(f"/internal/sessions/{_seg(session_id)}")

    def logout(self, session_id: str) -> None:
        self.request("DELETE", f"/internal/sessions/{_seg(session_id)}")

    # Passwords, recovery, closing
    def change_password(self, account_id: str, current_password: str, new_password: str,
                        session_id: str | None = None) -> None:
        """Ends the account's other sessions; ``session_id`` (this browser's) is kept."""
        self.post_json(f"/internal/accounts/{_seg(account_id)}/password",
                       {"current_password": current_password, "new_password": new_password, "session_id": session_id})

    def recover(self, email: str, mobile: str) -> None:
        self.post_json("/internal/recovery", {"email": email, "mobile": mobile})

    def close_account(self, account_id: str, password: str) -> None:
        self.post_json(f"/internal/accounts/{_seg(account_id)}/close", {"password": password})

    # Callback requests ("Kérdésem van") and the customer's contact data
    def request_callback(self, data: dict) -> dict:
        """``{idempotency_key, name, phone, email, policy_number, topic, message, preferred_time, language,
        account_id}`` -> ``{request_id, due_on, email, created}`` (the same key again: the first request); 422
        InvalidFields, 429 Throttled."""
        return self.post_json("/internal/callback-requests", data)

    def request_email_change(self, account_id: str, password: str, email: str) -> dict:
        """A link to the new address; -> ``{kind, new_value, expires_at}``; 422 InvalidFields (password, email)."""
        return self.post_json(f"/internal/accounts/{_seg(account_id)}/email-change",
                              {"password": password, "email": email})

    def confirm_email_change(self, token: str) -> dict:
        """-> the account with its new e-mail; 410 Gone (``expired | used | unknown``)."""
        return self.post_json(f"/internal/email-changes/{_seg(token)}")

    def request_mobile_change(self, account_id: str, password: str, mobile: str) -> dict:
        """A code by SMS to the new number; -> ``{kind, new_value, expires_at}``; 422 InvalidFields."""
        return self.post_json(f"/internal/accounts/{_seg(account_id)}/mobile-change",
                              {"password": password, "mobile": mobile})

    def confirm_mobile_change(self, account_id: str, code: str) -> dict:
        """-> the account; 422 InvalidFields (``code``), 410 Gone (no valid code any more: ask for a new one)."""
        return self.post_json(f"/internal/accounts/{_seg(account_id)}/mobile-change/confirm", {"code": code})

    def set_language(self, account_id: str, language: str) -> dict:
        """The language of the customer's e-mails and SMS."""
        return self.request("PUT", f"/internal/accounts/{_seg(account_id)}/language",
                            json={"language": language}).json()
