"""Unit-test builders: policies and policyholders as the core system would describe them, and commands."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from policies.domain import commands, model

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)

ANNA = dict(customer_id="C-1001", name="Kovács Anna", birth_name="Példa Anna", birth_date=date(1985, 7, 14),
            birth_place="Debrecen", mother_name="Teszt Mária", email="anna@example.com", mobile="+36301234567")


def holder(**overrides) -> model.Policyholder:
    return model.Policyholder(**{**ANNA, "updated_at": T0, **overrides})


def policy(policy_number="KGFB-1001", *, product="kgfb", status="active", payment_method="bank_transfer",
           customer_id="C-1001", epost=False, updated_at=T0) -> model.Policy:
    return model.Policy(policy_number=policy_number, product=product, status=status, payment_method=payment_method,
                        premium_amount=48000, premium_frequency="annual", start_date=date(2024, 3, 1),
                        customer_id=customer_id, updated_at=updated_at, epost=epost)


def upsert(policy_number="KGFB-1001", *, at=T0, **overrides) -> commands.UpsertPolicy:
    """``policy.upserted`` as the worker turns it into a command; ``at`` is the core system's updated_at."""
    fields = dict(product="kgfb", status="active", payment_method="bank_transfer", premium_amount=48000,
                  premium_frequency="annual", start_date=date(2024, 3, 1), **ANNA)
    fields.update(overrides)
    return commands.UpsertPolicy(policy_number=policy_number, updated_at=at, **fields)


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Builders:
    """What the tests share (test modules cannot import conftest under --import-mode=importlib)."""

    T0, ANNA = T0, ANNA
    holder, policy = staticmethod(holder), staticmethod(policy)
    upsert, later = staticmethod(upsert), staticmethod(later)


@pytest.fixture
def b() -> type[Builders]:
    return Builders
