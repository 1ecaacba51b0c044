"""Events this service publishes (through its outbox). One class per contract in contracts/events/."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from portal_common.events import IntegrationEvent


@dataclass(frozen=True)
class PolicyEnrolled(IntegrationEvent):
    """``policy.enrolled`` v1: a policy joined ePosta (a cheque-paid one switched to bank transfer)."""

    name: ClassVar[str] = "policy.enrolled"
    policy_number: str
    customer_id: str
    payment_method: str
    previous_payment_method: str
