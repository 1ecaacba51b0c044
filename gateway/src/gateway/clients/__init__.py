"""One client per internal service, bundled in :class:`Clients` (``app.extensions["clients"]``).

Tests inject fakes with ``create_app(config={"CLIENTS": Clients(identity=FakeIdentity(), ...)})``.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from portal_common import callers, config

from .documents import DocumentsClient
from .http import ServiceUnavailable  # noqa: F401  (re-exported: pages catch it)
from .identity import IdentityClient
from .notify import NotifyClient
from .policies import PoliciesClient


@dataclass
class Clients:
    identity: IdentityClient
    policies: PoliciesClient
    documents: DocumentsClient
    notify: NotifyClient

    def named(self) -> dict:
        return {"identity": self.identity, "policies": self.policies, "documents": self.documents,
                "notify": self.notify}


def build_clients() -> Clients:
    token = callers.own_token(callers.GATEWAY)  # the gateway's own credential
    return Clients(
        identity=IdentityClient(config.env("PORTAL_IDENTITY_URL", "http://127.0.0.1:8101"), token),
        policies=PoliciesClient(config.env("PORTAL_POLICIES_URL", "http://127.0.0.1:8102"), token),
        documents=DocumentsClient(config.env("PORTAL_DOCUMENTS_URL", "http://127.0.0.1:8103"), token),
        notify=NotifyClient(config.env("PORTAL_NOTIFY_URL", "http://127.0.0.1:8104"), token),
    )


def clients() -> Clients:
    return current_app.extensions["clients"]
