"""Events this service publishes (through its outbox). One class per contract in contracts/events/."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from portal_common.events import IntegrationEvent

#: Events only live subscribers take (the gateway's per-process queues; no queue of topology.json is bound for
#: them): while no gateway is subscribed the relay lets them go unrouted (portal_common.outbox.OutboxRelay).
LIVE_SUBSCRIBERS_ONLY = ("policy.changed",)


@dataclass(frozen=True)
class PolicyEnrolled(IntegrationEvent):
    """``policy.enrolled`` v1: a policy joined ePosta (a cheque-paid one switched to bank transfer)."""

    name: ClassVar[str] = "policy.enrolled"
    policy_number: str
    customer_id: str
    payment_method: str
    previous_payment_method: str


@dataclass(frozen=True)
class PolicyChanged(IntegrationEvent):
    """``policy.changed`` v1: a ``policy.upserted`` changed what ``customer_id``'s policy list shows."""

    name: ClassVar[str] = "policy.changed"
    policy_number: str
    customer_id: str
    changed_at: datetime
