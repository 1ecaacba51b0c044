"""Password hashing port. argon2id with argon2-cffi's defaults (OWASP ASVS 11.4.2); rehash when they change."""
from __future__ import annotations

import abc
import secrets

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher(abc.ABC):
    @abc.abstractmethod
    def hash(self, password: str) -> str: ...

    @abc.abstractmethod
    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches. With ``stored_hash=None`` the same work is done against a dummy hash and
        the answer is False, so an unknown account costs the same time as a known one."""

    @abc.abstractmethod
    def needs_rehash(self, stored_hash: str) -> bool: ...


class Argon2Hasher(PasswordHasher):
    def __init__(self, hasher: _Argon2 | None = None):
        self._ph = hasher or _Argon2()  # argon2id, RFC 9106 low-memory profile
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._ph.hash(secrets.token_urlsafe(16))
        return self._dummy

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, stored_hash, password):
        if stored_hash is None:
            try:
                self._ph.verify(self._dummy_hash(), password)
            except VerificationError:
                pass
            return False
        try:
            return self._ph.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash):
        return self._ph.check_needs_rehash(stored_hash)


def fast_argon2() -> Argon2Hasher:
    """Real argon2id with the cheapest parameters: for tests only (production uses the defaults)."""
    return Argon2Hasher(_Argon2(time_cost=1, memory_cost=8, parallelism=1))


class FakeHasher(PasswordHasher):
    """Reversible and instant; counts calls so tests can check that unknown accounts cost a verification too."""

    def __init__(self):
        self.verifications = 0
        self.hashes = 0
        self.outdated: set[str] = set()

    def hash(self, password):
        self.hashes += 1
        return "fake$" + password

    def verify(self, stored_hash, password):
        self.verifications += 1
        return stored_hash is not None and stored_hash == "fake$" + password

    def needs_rehash(self, stored_hash):
        return stored_hash in self.outdated
