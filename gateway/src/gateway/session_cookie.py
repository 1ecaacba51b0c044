"""The session cookie, encrypted: nobody who sees it (the browser's storage, a proxy log) reads what it holds.

Flask's default cookie is only signed, so the e-mail address and mobile number shown on the confirmation pages
(``/declaration/done``, ``/register/sent``, ``/activate/done``) would be readable base64. Here the same session dict
is sealed with Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) under a key derived from ``PORTAL_SECRET_KEY``
(HKDF, its own ``info`` label, so the cookie key differs from the CSRF signing key). A tampered, foreign or
expired cookie opens as an empty session, as a bad signature does in Flask.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature


def cookie_key(secret_key: str | bytes) -> bytes:
    raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"portal-gateway",
                   info=b"session-cookie-encryption").derive(raw)
    return base64.urlsafe_b64encode(derived)


class _Sealer:
    """What Flask expects of a "signing serializer" (``dumps``, ``loads(value, max_age=)``), encrypting instead."""

    def __init__(self, secret_key: str | bytes):
        self.fernet = Fernet(cookie_key(secret_key))
        self.serializer = TaggedJSONSerializer()

    def dumps(self, data: dict) -> str:
        return self.fernet.encrypt(self.serializer.dumps(data).encode()).decode()

    def loads(self, value: str, max_age: int | None = None) -> dict:
        try:
            plain = self.fernet.decrypt(value.encode(), ttl=max_age)
        except (InvalidToken, ValueError) as exc:
            raise BadSignature("session cookie does not open") from exc
        return self.serializer.loads(plain.decode())


class EncryptedCookieSessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        # Flask asks twice per request (open, save); deriving the key (HKDF) each time cost more than the decryption.
        cached = getattr(self, "_sealer", None)
        if cached is None or cached[0] != app.secret_key:
            cached = self._sealer = (app.secret_key, _Sealer(app.secret_key))
        return cached[1]
