"""Identification by policy number + natural identification data: all must match; case and extra spaces do not
matter, accents do; the answer never says which item was wrong."""
from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from policies.service_layer import handlers
from policies.service_layer.unit_of_work import FakeUnitOfWork

GIVEN = dict(policy_number="KGFB-1001", name="Kovács Anna", birth_name="Példa Anna", birth_date=date(1985, 7, 14),
             birth_place="Debrecen", mother_name="Teszt Mária")


@pytest.fixture
def uow(b):
    return FakeUnitOfWork([b.policy("KGFB-1001"), b.policy("HOME-2002", product="home", payment_method="cheque"),
                           b.policy("KGFB-9999", customer_id="C-OTHER")],
                          [b.holder(), b.holder(customer_id="C-OTHER", name="Másik Ember")])


def match(uow, **overrides):
    return handlers.match_policyholder(uow, **{**GIVEN, **overrides})


def test_exact_data_matches_and_returns_the_holder_with_all_their_policies(uow):
    holder, policies = match(uow)
    assert holder.customer_id == "C-1001" and holder.email == "anna@example.com"
    assert [p.policy_number for p in policies] == ["HOME-2002", "KGFB-1001"]


def test_case_and_surrounding_and_inner_spaces_are_ignored(uow):
    found = match(uow, policy_number="  KGFB-1001 ", name="  KOVÁCS   anna ", birth_name="példa  ANNA",
                  birth_place=" debrecen", mother_name="TESZT MÁRIA  ")
    assert found is not None and found[0].customer_id == "C-1001"


def test_a_policy_number_typed_in_lower_case_is_the_same_policy(uow):
    found = match(uow, policy_number="kgfb-1001")
    assert found is not None and found[0].customer_id == "C-1001"


def test_a_decomposed_accent_is_the_same_letter(uow):
    """A browser on macOS may send "á" as "a" + combining acute."""
    assert match(uow, name=unicodedata.normalize("NFD", "Kovács Anna")) is not None


@pytest.mark.parametrize("field,value", [
    ("name", "Kovacs Anna"),            # accents are significant
    ("mother_name", "Teszt Maria"),
    ("birth_name", "Pelda Anna"),
])
def test_accents_are_significant(uow, field, value):
    assert match(uow, **{field: value}) is None


def test_a_wrong_birth_date_fails(uow):
    assert match(uow, birth_date=date(1985, 7, 15)) is None


@pytest.mark.parametrize("field,value", [
    ("name", "Kovács Anikó"),
    ("birth_name", "Kovács Anna"),
    ("birth_date", date(1986, 7, 14)),
    ("birth_place", "Szeged"),
    ("mother_name", "Teszt Márta"),
])
def test_any_single_wrong_item_fails(uow, field, value):
    assert match(uow, **{field: value}) is None


def test_an_unknown_policy_fails_like_wrong_data(uow):
    assert match(uow, policy_number="KGFB-0000") is None


def test_another_holders_policy_number_with_my_data_fails(uow):
    assert match(uow, policy_number="KGFB-9999") is None

