"""Commands: what the service is asked to do (imperative names)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class UpsertPolicy:
    policy_number: str
    product: str
    status: str
    payment_method: str
    premium_amount: int
    premium_frequency: str
    start_date: date
    updated_at: datetime
    customer_id: str
    name: str
    birth_name: str
    birth_date: date
    birth_place: str
    mother_name: str
    email: str | None = None
    mobile: str | None = None

    @classmethod
    def from_event(cls, *, policyholder: dict, premium: dict, **policy) -> "UpsertPolicy":
        """From ``policy.upserted`` (contracts/events/policy.upserted.v1.json): the holder and premium flattened."""
        return cls(**policy, premium_amount=premium["amount"], premium_frequency=premium["frequency"], **policyholder)


@dataclass(frozen=True)
class EnrolPolicy:
    policy_number: str
    customer_id: str
