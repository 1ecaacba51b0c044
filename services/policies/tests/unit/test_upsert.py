"""policy.upserted carries the core system's full current state; messages may arrive late or out of order."""
from __future__ import annotations

from datetime import date

import pytest

from policies.service_layer import handlers
from policies.service_layer.unit_of_work import FakeUnitOfWork


def test_a_new_policy_and_its_holder_are_stored(b):
    uow = FakeUnitOfWork()
    assert handlers.upsert_policy(b.upsert("KGFB-1001"), uow) is True
    policy, holder = handlers.get_policy(uow, "KGFB-1001")
    assert (policy.product, policy.status, policy.payment_method, policy.customer_id) == (
        "kgfb", "active", "bank_transfer", "C-1001")
    assert (policy.premium_amount, policy.premium_frequency, policy.epost) == (48000, "annual", False)
    assert (holder.name, holder.email, holder.mobile) == ("Kovács Anna", "anna@example.com", "+36301234567")
    assert uow.committed


def test_an_update_older_than_the_stored_one_is_ignored(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10), status="active"), uow)
    uow.committed = False
    assert handlers.upsert_policy(b.upsert(at=b.later(5), status="terminated", email="old@example.com"), uow) is False
    policy, holder = handlers.get_policy(uow, "KGFB-1001")
    assert policy.status == "active" and policy.updated_at == b.later(10)
    assert holder.email == "anna@example.com"
    assert not uow.committed


def test_an_update_with_the_same_timestamp_applies(b):
    """A redelivery or a correction stamped in the same instant: the last one received wins."""
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10), payment_method="cheque"), uow)
    assert handlers.upsert_policy(b.upsert(at=b.later(10), payment_method="direct_debit"), uow) is True
    assert handlers.get_policy(uow, "KGFB-1001")[0].payment_method == "direct_debit"


def test_a_newer_update_applies(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10)), uow)
    assert handlers.upsert_policy(b.upsert(at=b.later(20), status="suspended", premium_amount=52000,
                                           premium_frequency="quarterly"), uow) is True
    policy, _ = handlers.get_policy(uow, "KGFB-1001")
    assert (policy.status, policy.premium_amount, policy.premium_frequency, policy.updated_at) == (
        "suspended", 52000, "quarterly", b.later(20))


def test_holder_data_updates_with_a_newer_message(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10)), uow)
    handlers.upsert_policy(b.upsert(at=b.later(20), name="Példa-Kovács Anna", email="anna.uj@example.com",
                                    mobile="+36209998888"), uow)
    _, holder = handlers.get_policy(uow, "KGFB-1001")
    assert (holder.name, holder.email, holder.mobile) == ("Példa-Kovács Anna", "anna.uj@example.com", "+36209998888")
    assert holder.birth_name == "Példa Anna"


def test_an_older_message_of_another_policy_does_not_roll_the_holder_back(b):
    """The holder is shared by the customer's policies: a late first message of policy B must not overwrite what a
    newer message of policy A said about the holder."""
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert("KGFB-1001", at=b.later(20), email="new@example.com"), uow)
    assert handlers.upsert_policy(b.upsert("HOME-2002", at=b.later(5), product="home", email="old@example.com"),
                                  uow) is True
    assert handlers.get_policy(uow, "HOME-2002")[0].product == "home"  # the policy itself is new: stored
    assert handlers.get_policy(uow, "HOME-2002")[1].email == "new@example.com"


def test_an_update_keeps_the_epost_enrolment(b):
    uow = FakeUnitOfWork([b.policy(epost=True)], [b.holder()])
    handlers.upsert_policy(b.upsert(at=b.later(30), premium_amount=50000), uow)
    policy, _ = handlers.get_policy(uow, "KGFB-1001")
    assert policy.epost is True and policy.premium_amount == 50000


def test_upserting_publishes_nothing(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(), uow)
    assert uow.published == []


# ------------------------------------------------------------------------------- policy.changed (issue 9)
def changed(uow) -> list[dict]:
    return [payload for name, payload in uow.published if name == "policy.changed"]


def test_a_change_to_a_stored_policy_publishes_policy_changed_once(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10)), uow)
    assert changed(uow) == []  # the customer's first policy: no portal user can have seen a list of theirs
    assert handlers.upsert_policy(b.upsert(at=b.later(20), status="suspended"), uow) is True
    assert changed(uow) == [{"policy_number": "KGFB-1001", "customer_id": "C-1001",
                             "changed_at": b.later(20).isoformat()}]


@pytest.mark.parametrize("shown", [dict(product="casco"), dict(payment_method="cheque"), dict(premium_amount=1),
                                   dict(premium_frequency="monthly"), dict(start_date=date(2025, 1, 1))])
def test_every_field_the_policy_list_shows_counts(b, shown):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10)), uow)
    handlers.upsert_policy(b.upsert(at=b.later(20), **shown), uow)
    assert len(changed(uow)) == 1


def test_a_stale_or_duplicate_or_unshown_update_publishes_nothing(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert(at=b.later(10)), uow)
    assert handlers.upsert_policy(b.upsert(at=b.later(5), status="terminated"), uow) is False  # stale: ignored
    assert handlers.upsert_policy(b.upsert(at=b.later(10)), uow) is True  # a duplicate: applies, changes nothing
    handlers.upsert_policy(b.upsert(at=b.later(30)), uow)  # re-sent by the core system with a newer time only
    handlers.upsert_policy(b.upsert(at=b.later(40), email="anna.uj@example.com"), uow)  # the holder, not the list
    assert changed(uow) == []


def test_a_new_policy_of_a_customer_who_has_one_changes_their_list(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert("KGFB-1001", at=b.later(10)), uow)
    handlers.upsert_policy(b.upsert("HOME-2002", at=b.later(20), product="home"), uow)
    handlers.upsert_policy(b.upsert("CASCO-1", at=b.later(20), customer_id="C-9"), uow)  # C-9's first: nothing
    assert changed(uow) == [{"policy_number": "HOME-2002", "customer_id": "C-1001",
                             "changed_at": b.later(20).isoformat()}]


def test_a_policy_that_changes_hands_changes_both_lists(b):
    uow = FakeUnitOfWork()
    handlers.upsert_policy(b.upsert("KGFB-1001", at=b.later(10)), uow)
    handlers.upsert_policy(b.upsert("KGFB-1001", at=b.later(20), customer_id="C-2002"), uow)
    assert [(p["policy_number"], p["customer_id"]) for p in changed(uow)] == [("KGFB-1001", "C-1001"),
                                                                              ("KGFB-1001", "C-2002")]
