"""Who may register: a policyholder with an active kgfb, casco, home or business policy paid by direct debit or bank
transfer (cheque-paid and other products do not qualify)."""
from __future__ import annotations

import itertools

import pytest

from policies.domain import model
from policies.service_layer import handlers
from policies.service_layer.unit_of_work import FakeUnitOfWork

ELIGIBLE = {(product, method) for product in ("kgfb", "casco", "home", "business")
            for method in ("direct_debit", "bank_transfer")}


@pytest.mark.parametrize("product,status,method",
                         list(itertools.product(model.PRODUCTS, model.STATUSES, model.PAYMENT_METHODS)))
def test_qualifies_for_registration(b, product, status, method):
    policy = b.policy(product=product, status=status, payment_method=method)
    expected = status == "active" and (product, method) in ELIGIBLE
    assert policy.qualifies_for_registration is expected


@pytest.mark.parametrize("product,status,epost,expected", [
    ("kgfb", "active", False, True),
    ("home", "active", False, True),
    ("casco", "active", True, False),       # already in
    ("business", "suspended", False, False),
    ("home", "terminated", False, False),
    ("other", "active", False, False),
])
def test_enrollable(b, product, status, epost, expected):
    assert b.policy(product=product, status=status, epost=epost).enrollable is expected


def test_a_cheque_paid_policy_is_enrollable_but_does_not_qualify_for_registration(b):
    policy = b.policy(payment_method="cheque")
    assert policy.enrollable and not policy.qualifies_for_registration


def test_customer_policies_lists_only_that_customers_policies_by_number(b):
    uow = FakeUnitOfWork([b.policy("KGFB-2"), b.policy("HOME-1", product="home"),
                          b.policy("KGFB-9", customer_id="C-OTHER")], [b.holder()])
    assert [p.policy_number for p in handlers.policies_of(uow, "C-1001")] == ["HOME-1", "KGFB-2"]
    assert handlers.policies_of(uow, "C-NOBODY") == []
