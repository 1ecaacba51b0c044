"""Who may call an internal API: one credential per caller, checked in constant time, two valid while rotating.

A caller (the gateway, identity) sends its OWN token in ``X-Service-Token``: ``PORTAL_GATEWAY_TOKEN`` in the gateway,
``PORTAL_IDENTITY_TOKEN`` in identity. An API holds only SHA-256 digests of the tokens it accepts, per caller
(``PORTAL_GATEWAY_TOKEN_SHA256``, ``PORTAL_IDENTITY_TOKEN_SHA256``; comma-separated, so the old and the new token are
both valid during a rotation). A compromised API therefore cannot impersonate its callers towards the other APIs,
and each API names the callers it expects: a valid token of another caller answers 403.

Rotation: add the new token's digest to the APIs, give the caller the new token, remove the old digest.
Digest of a token: ``printf %s "$TOKEN" | python -m portal_common.callers`` (or ``sha256sum``).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import sys
from typing import Iterable

from . import config

GATEWAY, IDENTITY = "gateway", "identity"
# Published development tokens: valid only outside production (config.looks_like_demo refuses them there).
DEV_TOKENS = {GATEWAY: "dev-gateway-token", IDENTITY: "dev-identity-token"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def digest(token: str) -> str:
    """>>> digest("dev-gateway-token")[:12]
    '216ce936ed93'
    """
    return hashlib.sha256(token.encode()).hexdigest()


def own_token(caller: str) -> str:
    """The credential THIS process (``caller``) sends to the internal APIs it calls."""
    return config.env(f"PORTAL_{caller.upper()}_TOKEN", DEV_TOKENS[caller], production_required=True, secret=True)


def accepted_digests(caller: str) -> tuple[bytes, ...]:
    """The digests of ``caller``'s tokens an API accepts (``PORTAL_<CALLER>_TOKEN_SHA256``)."""
    name = f"PORTAL_{caller.upper()}_TOKEN_SHA256"
    raw = config.env(name, None, production_required=True) or digest(DEV_TOKENS[caller])
    values = [part.strip().lower() for part in raw.split(",") if part.strip()]
    if not values or not all(_HEX64.match(value) for value in values):
        raise config.ConfigError(f"{name} must be one or more comma-separated SHA-256 hex digests (64 characters)")
    if config.is_production():
        published = {digest(value) for value in (*DEV_TOKENS.values(), *config.DEMO_VALUES)}
        if published & set(values):
            raise config.ConfigError(f"{name} accepts a published demo token; PORTAL_ENV=production needs your own")
    return tuple(bytes.fromhex(value) for value in values)


class CallerCheck:
    """Tells which expected caller presented a token, or None. Every digest is compared, in constant time."""

    def __init__(self, expected: Iterable[str]):
        self.digests = {caller: accepted_digests(caller) for caller in expected}

    def identify(self, token: str) -> str | None:
        presented = hashlib.sha256(token.encode()).digest()
        found = None
        for caller, digests in self.digests.items():
            for accepted in digests:
                # No early exit: the time taken does not depend on which digest (if any) matched.
                if hmac.compare_digest(presented, accepted) and found is None:
                    found = caller
        return found


if __name__ == "__main__":
    print(digest(sys.stdin.read().strip()))
