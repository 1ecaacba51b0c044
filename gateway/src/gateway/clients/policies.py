"""Client of the policies service (the customer's policies, ePosta enrolment). Port 8102."""
from __future__ import annotations

from .http import ServiceClient
from .identity import _seg


class PoliciesClient(ServiceClient):
    service = "policies"

    def customer_policies(self, customer_id: str) -> list[dict]:
        """Every policy of the customer: ``[{policy_number, product, status, payment_method, premium, start_date,
        customer_id, epost, enrollable, qualifies_for_registration, updated_at}]``."""
        return self.get_json(f"/internal/customers/{_seg(customer_id)}/policies").get("policies", [])

    def get_policy(self, policy_number: str) -> dict:
        """A policy with its holder's master data (``policyholder``: ``{customer_id, name, ...}``); NotFound."""
        return self.get_json(f"/internal/policies/{_seg(policy_number)}")

    def enrol(self, policy_number: str, customer_id: str) -> dict:
        """ePosta enrolment; a cheque-paid policy switches to bank transfer. NotFound / Conflict on refusal."""
        return self.post_json(f"/internal/policies/{_seg(policy_number)}/epost", {"customer_id": customer_id})
