"""Field rules: mobile numbers, usernames, e-mail addresses, the password policy, generated passwords."""
import pytest

from identity.domain import messages, rules


@pytest.mark.parametrize("raw, expected", [
    ("06 30 123 4567", "+36301234567"),
    ("06301234567", "+36301234567"),
    ("+36 30 123 4567", "+36301234567"),
    ("+36-20-123-4567", "+36201234567"),
    ("0036 70 123 4567", "+36701234567"),
    ("(06) 31/123-4567", "+36311234567"),
    ("36501234567", "+36501234567"),
    ("301234567", "+36301234567"),
])
def test_hungarian_mobile_numbers_are_normalised_to_e164(raw, expected):
    assert rules.normalise_mobile(raw) == expected


@pytest.mark.parametrize("raw", [
    "06 1 123 4567",          # Budapest landline
    "06 40 123 4567",         # not a mobile network
    "06 30 123 456",          # one digit short
    "06 30 123 45678",        # one digit long
    "+44 7700 900123",        # foreign
    "hello", "",
])
def test_other_numbers_are_not_hungarian_mobiles(raw):
    assert rules.normalise_mobile(raw) is None


@pytest.mark.parametrize("name, codes", [
    ("ab", ["username_length"]), ("a" * 33, ["username_length"]), ("abc", []), ("a" * 32, []),
    ("minta.anna_1-x", []), ("kovács", ["username_chars"]), ("with space", ["username_chars"]),
    ("anna@home", ["username_chars"]),
])
def test_username_rules(name, codes):
    assert rules.check_username(name) == codes


def test_usernames_are_unique_case_insensitively():
    assert rules.username_key(" Minta.Anna ") == rules.username_key("minta.anna")


@pytest.mark.parametrize("email, ok", [("anna@example.com", True), (" Anna@Example.COM ", True),
                                       ("anna@", False), ("anna.example.com", False), ("a b@c.hu", False)])
def test_email_rules(email, ok):
    assert (rules.check_email(email) == []) is ok


def test_password_shorter_than_12_is_refused_and_12_is_enough():
    assert rules.check_password("Rovid-jel5z", username="anna") == ["too_short"]
    assert rules.check_password("Eleg-hosszu1", username="anna") == []


@pytest.mark.parametrize("password", ["minta.anna-2026!", "XXMINTA.ANNAxx", "Minta.Anna12345"])
def test_password_must_not_be_or_contain_the_username_in_any_case(password):
    assert "contains_username" in rules.check_password(password, username="Minta.Anna")


@pytest.mark.parametrize("password", ["123456789012", "Password1234", "QWERTYUIOPAS", "jelszo123456",
                                      "Jelszo123456", "qwertzuiopas"])
def test_common_passwords_are_refused(password):
    assert rules.check_password(password, username="anna") == ["common_password"]


def test_the_common_password_list_is_shipped_with_the_package():
    assert len(rules.common_passwords()) >= 900


def test_the_new_password_must_differ_from_the_current_one():
    assert rules.check_password("Ugyanaz-Marad-7", username="anna",
                                current_password="Ugyanaz-Marad-7") == ["same_as_current"]


def test_generated_passwords_are_long_unambiguous_and_pass_the_policy():
    seen = set()
    for _ in range(200):
        password = rules.generate_password()
        seen.add(password)
        assert len(password) >= 12
        assert not set(password) & set("0O1lIo")
        assert rules.check_password(password, username="minta.anna") == []
    assert len(seen) == 200


def test_field_errors_carry_hungarian_and_english_texts():
    errors = messages.field_errors({"new_password": ["too_short"], "username": []}, min=12)
    assert errors == {"new_password": [{
        "code": "too_short", "message_hu": "A jelszó legalább 12 karakter legyen.",
        "message_en": "The password must be at least 12 characters long."}]}
    for code, (hu, en) in messages.MESSAGES.items():
        assert hu and en and hu != en, code
