"""Policies and policyholders. Plain Python: no framework imports here."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from .events import PolicyChanged, PolicyEnrolled

PRODUCTS = ("kgfb", "casco", "home", "business", "other")
#: Products whose policyholders may use the portal (compulsory motor liability, casco, home, business property and
#: liability).
EPOST_PRODUCTS = frozenset({"kgfb", "casco", "home", "business"})
PAYMENT_METHODS = ("direct_debit", "bank_transfer", "cheque")
#: Payment methods under which a policy qualifies its holder for registration.
ELIGIBLE_PAYMENT_METHODS = frozenset({"direct_debit", "bank_transfer"})
STATUSES = ("active", "suspended", "terminated")
FREQUENCIES = ("annual", "semiannual", "quarterly", "monthly")


class NotEnrollable(Exception):
    """The policy cannot join ePosta (wrong product, not active, or not the caller's)."""


@dataclass
class Policyholder:
    customer_id: str
    name: str
    birth_name: str
    birth_date: date
    birth_place: str
    mother_name: str
    email: str | None = None
    mobile: str | None = None
    updated_at: datetime | None = None

    def matches(self, *, name: str, birth_name: str, birth_date: date, birth_place: str, mother_name: str) -> bool:
        """Identification by natural identification data: all five must match (case and outer spaces ignored,
        accents significant — "Kovács" is not "Kovacs")."""
        pairs = ((self.name, name), (self.birth_name, birth_name), (self.birth_place, birth_place),
                 (self.mother_name, mother_name))
        return self.birth_date == birth_date and all(normalise(a) == normalise(b) for a, b in pairs)


#: The fields of a policy that GET /internal/customers/<id>/policies shows (enrollable and
#: qualifies_for_registration follow from them; epost only changes by an enrolment, which has its own event).
SHOWN = ("product", "status", "payment_method", "premium_amount", "premium_frequency", "start_date", "customer_id")


@dataclass(eq=False)  # an entity: identity is the policy number, instances go into sets
class Policy:
    policy_number: str
    product: str
    status: str
    payment_method: str
    premium_amount: int
    premium_frequency: str
    start_date: date
    customer_id: str
    updated_at: datetime
    epost: bool = False
    events: list = field(default_factory=list, repr=False, compare=False)

    @property
    def qualifies_for_registration(self) -> bool:
        return (self.status == "active" and self.product in EPOST_PRODUCTS
                and self.payment_method in ELIGIBLE_PAYMENT_METHODS)

    @property
    def enrollable(self) -> bool:
        return self.status == "active" and self.product in EPOST_PRODUCTS and not self.epost

    def is_newer_than(self, updated_at: datetime) -> bool:
        return self.updated_at > updated_at

    def shown(self) -> tuple:
        """What a customer's policy list shows of it (``updated_at`` aside): a change here is worth telling."""
        return tuple(getattr(self, name) for name in SHOWN)

    def changed(self, customer_id: str, at: datetime) -> None:
        """``policy.changed`` for ``customer_id``, whose policy list is no longer what it was."""
        self.events.append(PolicyChanged(policy_number=self.policy_number, customer_id=customer_id,
                                         changed_at=at.astimezone(timezone.utc)))

    def enrol_in_epost(self) -> str | None:
        """Join ePosta. A cheque-paid policy switches to bank transfer; direct debit and transfer stay as they are.
        Returns the previous payment method when it changed."""
        if self.status != "active" or self.product not in EPOST_PRODUCTS:
            raise NotEnrollable(f"policy {self.policy_number} cannot join ePosta")
        if self.epost:
            return None
        self.epost = True
        previous = None
        if self.payment_method == "cheque":
            previous, self.payment_method = self.payment_method, "bank_transfer"
        self.events.append(PolicyEnrolled(
            policy_number=self.policy_number, customer_id=self.customer_id, payment_method=self.payment_method,
            previous_payment_method=previous or self.payment_method))
        return previous


def normalise(text: str) -> str:
    """Case-insensitive, outer- and inner-space-tolerant, accent-preserving comparison key."""
    return " ".join(unicodedata.normalize("NFC", text or "").split()).casefold()
