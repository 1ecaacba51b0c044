"""ePosta enrolment of one of the customer's policies: cheque -> bank transfer, once, only eligible policies."""
from __future__ import annotations

import pytest

from policies.domain import commands, model
from policies.service_layer import handlers
from policies.service_layer.unit_of_work import FakeUnitOfWork


def enrol(uow, policy_number="KGFB-1001", customer_id="C-1001"):
    return handlers.enrol_policy(commands.EnrolPolicy(policy_number, customer_id), uow)


def test_a_cheque_paid_policy_switches_to_bank_transfer(b):
    uow = FakeUnitOfWork([b.policy(payment_method="cheque")], [b.holder()])
    policy = enrol(uow)
    assert policy.epost is True and policy.payment_method == "bank_transfer"
    assert uow.committed
    assert uow.published == [("policy.enrolled", {"policy_number": "KGFB-1001", "customer_id": "C-1001",
                                                  "payment_method": "bank_transfer",
                                                  "previous_payment_method": "cheque"})]


@pytest.mark.parametrize("method", ["direct_debit", "bank_transfer"])
def test_direct_debit_and_bank_transfer_stay_as_they_are(b, method):
    uow = FakeUnitOfWork([b.policy(payment_method=method)], [b.holder()])
    assert enrol(uow).payment_method == method
    [(name, payload)] = uow.published
    assert name == "policy.enrolled"
    assert payload["payment_method"] == payload["previous_payment_method"] == method


def test_an_enrolled_policy_is_no_longer_enrollable(b):
    uow = FakeUnitOfWork([b.policy()], [b.holder()])
    assert enrol(uow).enrollable is False


def test_enrolling_again_succeeds_without_a_second_event(b):
    uow = FakeUnitOfWork([b.policy(payment_method="cheque")], [b.holder()])
    enrol(uow)
    again = enrol(uow)
    assert again.epost and again.payment_method == "bank_transfer"
    assert [name for name, _ in uow.published] == ["policy.enrolled"]


def test_a_policy_enrolled_before_publishes_nothing(b):
    uow = FakeUnitOfWork([b.policy(epost=True)], [b.holder()])
    assert enrol(uow).epost
    assert uow.published == []


@pytest.mark.parametrize("overrides", [dict(status="suspended"), dict(status="terminated"), dict(product="other"),
                                       dict(product="other", payment_method="cheque")])
def test_not_active_or_not_an_eligible_product_is_not_enrollable(b, overrides):
    uow = FakeUnitOfWork([b.policy(**{"payment_method": "cheque", **overrides})], [b.holder()])
    with pytest.raises(model.NotEnrollable):
        enrol(uow)
    policy, _ = handlers.get_policy(uow, "KGFB-1001")
    assert policy.epost is False and policy.payment_method == overrides.get("payment_method", "cheque")
    assert uow.published == [] and not uow.committed


def test_another_customers_policy_is_not_found(b):
    uow = FakeUnitOfWork([b.policy(customer_id="C-OTHER", payment_method="cheque")],
                         [b.holder(customer_id="C-OTHER")])
    with pytest.raises(handlers.PolicyNotFound):
        enrol(uow, customer_id="C-1001")
    assert handlers.get_policy(uow, "KGFB-1001")[0].epost is False
    assert uow.published == []


def test_an_unknown_policy_is_not_found(b):
    with pytest.raises(handlers.PolicyNotFound):
        enrol(FakeUnitOfWork(), "KGFB-0000")
