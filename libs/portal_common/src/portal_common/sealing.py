"""Secrets sealed end to end: identity seals activation links and passwords, notify opens them, nobody in between.

The broker, its retry and dead-letter queues, the outbox tables, other services and the logs see only
``<key id>:<Fernet token>``. Fernet is authenticated encryption (AES-128-CBC + HMAC-SHA256, RFC-style spec at
github.com/fernet/spec); the sealed plaintext also names its ``context`` (the account id), so a sealed password
cannot be replayed into another account's message.

Keys: ``PORTAL_SEALING_KEYS`` = ``k2:<fernet key>,k1:<fernet key>`` — only identity and notify have it. The FIRST
key seals; every listed key opens (by its id), so rotation is: add the new key first everywhere that opens (notify),
then in identity, and drop the old one once no message sealed with it can still be waiting (the longest retry
horizon plus the dead-letter review time). A new key: ``python -m portal_common.sealing``.
"""
from __future__ import annotations

import json
import re

from cryptography.fernet import Fernet, InvalidToken

from . import config

ENV = "PORTAL_SEALING_KEYS"
# Published development key (refused with PORTAL_ENV=production).
DEV_KEYS = "dev1:l-tBZT4U_b78kPNG03tnQVBsy67Uj57uk2cBowUbdpI="
_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class SealError(Exception):
    """A sealed value that cannot be opened: unknown key id, tampered, or sealed for another context."""


class Sealer:
    def __init__(self, keys: list[tuple[str, str]]):
        if not keys:
            raise config.ConfigError(f"{ENV} holds no key")
        self.kid = keys[0][0]
        self.fernets = {}
        for kid, key in keys:
            if not _KID.match(kid):
                raise config.ConfigError(f"{ENV}: key id {kid!r} must be 1-16 letters, digits, '-' or '_'")
            try:
                self.fernets[kid] = Fernet(key.encode())
            except ValueError as exc:
                raise config.ConfigError(f"{ENV}: key {kid!r} is not a Fernet key (32 url-safe base64 bytes)") from exc

    @classmethod
    def from_env(cls) -> "Sealer":
        raw = config.env(ENV, DEV_KEYS, production_required=True)
        keys = []
        for part in raw.split(","):
            kid, sep, key = part.strip().partition(":")
            if not sep:
                raise config.ConfigError(f"{ENV} must be 'keyid:fernetkey' entries separated by commas")
            keys.append((kid.strip(), key.strip()))
        if config.is_production() and DEV_KEYS.split(":", 1)[1] in {key for _, key in keys}:
            raise config.ConfigError(f"{ENV} holds the published development key; PORTAL_ENV=production needs your own")
        return cls(keys)

    def seal(self, secret: str, context: str) -> str:
        plain = json.dumps({"s": secret, "c": context}, ensure_ascii=False).encode()
        return f"{self.kid}:{self.fernets[self.kid].encrypt(plain).decode()}"

    def open(self, sealed: str, context: str) -> str:
        kid, sep, token = (sealed or "").partition(":")
        fernet = self.fernets.get(kid) if sep else None
        if fernet is None:
            raise SealError(f"unknown key id {kid[:16]!r}" if sep else "not a sealed value")
        try:
            plain = json.loads(fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise SealError(f"sealed value does not open with key {kid!r} (tampered or wrong key)") from exc
        if plain.get("c") != context:
            raise SealError("sealed for another account")
        return plain["s"]


_cached: tuple[str | None, Sealer] | None = None


def default_sealer() -> Sealer:
    """The process's sealer from ``PORTAL_SEALING_KEYS`` (re-read when the variable changes: tests set it)."""
    global _cached
    import os

    raw = os.environ.get(ENV)
    if _cached is None or _cached[0] != raw:
        _cached = (raw, Sealer.from_env())
    return _cached[1]


if __name__ == "__main__":
    print(Fernet.generate_key().decode())
