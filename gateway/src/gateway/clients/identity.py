"""Client of the identity service (declarations, accounts, sessions, recovery). Port 8101."""
from __future__ import annotations

from urllib.parse import quote

from .http import NotFound, ServiceClient


def _seg(value: str) -> str:
    """A path segment from user input (tokens, ids): never let it change the path."""
    return quote(str(value), safe="")


class IdentityClient(ServiceClient):
    service = "identity"

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

    # Registration and activation (step 1)
    def register(self, data: dict) -> dict:
        """``{policy_number, name, birth_name, birth_date, birth_place, mother_name, email, mobile, username,
        language}`` -> ``{account_id, email}``."""
        return self.post_json("/internal/registrations", data)

    def resend_activation(self, email: str) -> None:
        self.post_json("/internal/registrations/resend", {"email": email})

    def activate(self, token: str) -> dict:
        """-> ``{username, sms: "queued", ...}``; 410 ``expired|used|unknown`` raises Gone."""
        return self.post_json(f"/internal/activations/{_seg(token)}")

    def get_account(self, account_id: str) -> dict:
        return self.get_json(f"/internal/accounts/{_seg(account_id)}")

    # Sessions (step 2)
    def login(self, username: str, password: str) -> dict:
        """-> ``{session_id, account_id, customer_id, username, must_change_password, idle_timeout_s}``."""
        return self.post_json("/internal/sessions", {"username": username, "password": password})

    def get_session(self, session_id: str) -> dict:
        """Validates the session and slides its idle timer; SessionExpired when it is gone."""
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
