"""Field rules: usernames, e-mail addresses, Hungarian mobile numbers, the password policy, generated passwords.

Each check returns error *codes* (see :mod:`identity.domain.messages` for their Hungarian and English texts).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from functools import lru_cache
from importlib import resources

USERNAME_MIN, USERNAME_MAX = 3, 32
USERNAME_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254
PASSWORD_MAX = 256  # argon2 takes any length; a bound keeps a megabyte "password" from costing CPU
#: Hungarian mobile networks: 20 (Yettel), 30 (Magyar Telekom), 31 (MVM Net), 50 (Digi), 70 (Vodafone/One).
MOBILE_PREFIXES = ("20", "30", "31", "50", "70")
_MOBILE_NATIONAL = re.compile(r"^(20|30|31|50|70)[0-9]{7}$")
#: Generated passwords avoid look-alikes (0/O/o, 1/l/I) since they are typed from an SMS.
UNAMBIGUOUS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"


def username_key(username: str) -> str:
    return username.strip().lower()


def username_hash(key: str, username: str) -> str:
    """A username typed at login that has no account, as stored: HMAC-SHA256 under ``PORTAL_USERNAME_HASH_KEY``
    (a typed name may be a password; a plain hash of a short name is easy to reverse, a keyed one is not)."""
    return hmac.new(key.encode(), username_key(username).encode(), hashlib.sha256).hexdigest()


def check_username(username: str) -> list[str]:
    username = username.strip()
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return ["username_length"]
    if not USERNAME_CHARS.match(username):
        return ["username_chars"]
    return []


def normalise_email(email: str) -> str:
    """Addresses compare case-insensitively (the local part is case-sensitive in theory, never in practice)."""
    return unicodedata.normalize("NFC", email or "").strip().lower()


def check_email(email: str) -> list[str]:
    email = normalise_email(email)
    if len(email) > EMAIL_MAX or not EMAIL.match(email):
        return ["invalid_email"]
    return []


_SEPARATORS = re.compile(r"[\s\-/().]")
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def normalise_phone(raw: str) -> str | None:
    """Any phone number we can call (landline too), in E.164 form, or ``None`` when it is not one. The portal's one
    phone normalisation: numbers enter through identity; events, notify and the gateway only see (and format)
    E.164. Separators go; ``06…`` (the Hungarian trunk prefix) becomes ``+36…``, ``00…`` becomes ``+…``.

    >>> normalise_phone("06 1 555 0100")
    '+3615550100'
    >>> normalise_phone("0036 30 123 4567")
    '+36301234567'
    """
    number = _SEPARATORS.sub("", raw or "")
    if number.startswith("06"):
        number = "+36" + number[2:]
    elif number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("36") and len(number) == 11:
        number = "+" + number
    return number if _PHONE.match(number) else None


def normalise_mobile(raw: str) -> str | None:
    """A Hungarian mobile number (networks 20, 30, 31, 50, 70) in E.164 form, or ``None`` when it is not one.

    >>> normalise_mobile("06 30 123 4567")
    '+36301234567'
    >>> normalise_mobile("+36 (20) 123-45-67")
    '+36201234567'
    >>> normalise_mobile("30 123 4567")  # the national number alone
    '+36301234567'
    """
    number = normalise_phone(raw)
    if number is None or not number.startswith("+36"):
        number = normalise_phone("06" + _SEPARATORS.sub("", raw or ""))
    return number if number and number.startswith("+36") and _MOBILE_NATIONAL.match(number[3:]) else None


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("identity").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_password(password: str, *, username: str, min_length: int = 12, current_password: str | None = None) -> list[str]:
    """The password policy: long enough, not the username (nor containing it), not a common password."""
    codes = []
    if len(password) < min_length:
        codes.append("too_short")
    elif len(password) > PASSWORD_MAX:
        codes.append("too_long")
    folded = password.casefold()
    name = (username or "").strip().casefold()
    if name and name in folded:
        codes.append("contains_username")
    if folded in common_passwords() or folded.strip() in common_passwords():
        codes.append("common_password")
    if current_password is not None and password == current_password:
        codes.append("same_as_current")
    return codes


def generate_password(length: int = 14) -> str:
    """A random password from the unambiguous alphabet with at least one upper, one lower case letter and one digit."""
    while True:
        candidate = "".join(secrets.choice(UNAMBIGUOUS) for _ in range(length))
        if (any(c.isupper() for c in candidate) and any(c.islower() for c in candidate)
                and any(c.isdigit() for c in candidate)):
            return candidate
