"""Fixtures shared by notify's unit and integration tests: sample events exactly as identity/documents/policies
publish them (the payloads fixed in docs/architecture.md), and a loader that reads them the way the worker does."""
from __future__ import annotations

import uuid

import pytest

from notify.entrypoints.schemas import EVENT_SCHEMAS
from portal_common.sealing import default_sealer

SECRETS = {
    "activation_url": "http://127.0.0.1:8000/activate/tok-SECRET-4f9c2b7d1e",
    "initial_password": "Init-PW-Zq8vX3kT",
    "one_time_password": "OTP-7hQ2mW9pLr",
    "confirm_url": "http://127.0.0.1:8000/account/email/confirm/tok-SECRET-8e1a",
    "code": "493027",
}


ACCOUNT = "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11"


def sealed(name: str, account_id: str = ACCOUNT) -> str:
    """``SECRETS[name]`` sealed by identity for this account (the development key, as in tests)."""
    return default_sealer().seal(SECRETS[name], account_id)


def _samples() -> dict[str, dict]:
    return {
        "account.activation_requested": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1", "username": "minta.anna", "email": "anna.minta@example.org",
            "language": "hu", "activation_url_sealed": sealed("activation_url"), "expires_at": "2026-11-22T10:00:00+00:00"},
        "account.activated": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1", "username": "minta.anna", "email": "anna.minta@example.org",
            "mobile": "+36301234567", "language": "hu", "activated_at": "2026-11-21T10:05:00+00:00"},
        "account.initial_password_issued": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1", "username": "minta.anna",
            "mobile": "+36301234567", "language": "hu", "initial_password_sealed": sealed("initial_password")},
        "account.locked": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "username": "minta.anna", "email": "anna.minta@example.org", "language": "hu",
            "locked_until": "2026-11-22T13:05:00+00:00", "failed_attempts": 3},
        "account.credentials_reset": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "username": "minta.anna", "email": "anna.minta@example.org",
            "mobile": "+36301234567", "language": "hu", "one_time_password_sealed": sealed("one_time_password"),
            "expires_at": "2026-11-22T10:00:00+00:00"},
        "account.password_changed": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "username": "minta.anna", "email": "anna.minta@example.org", "language": "hu",
            "changed_at": "2026-11-21T10:00:00+00:00"},
        "account.closed": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1", "email": "anna.minta@example.org", "language": "hu",
            "closed_at": "2026-11-21T12:00:00+00:00"},
        "customer.declared": {
            "declaration_id": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "customer_id": "C-1", "policy_number": "KGFB-1001",
            "email": "anna.docs@example.org", "language": "hu", "text_version": "2026-01", "channel": "portal",
            "declared_at": "2026-11-20T09:00:00+00:00"},
        "customer.declaration_withdrawn": {
            "declaration_id": "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "customer_id": "C-1", "email": "anna.docs@example.org", "language": "hu",
            "withdrawn_at": "2026-11-21T09:00:00+00:00"},
        "document.available": {
            "document_id": "3f6c2a9e-8b1d-4c7a-9e52-1d0b7a4f6c21", "customer_id": "C-1", "policy_number": "KGFB-1001",
            "doc_type": "premium_notice", "title": "Díjértesítő 2026", "uploaded_at": "2026-11-21T08:00:00+00:00",
            "available_until": "2027-12-21T08:00:00+00:00"},
        "policy.enrolled": {
            "policy_number": "HOME-2002", "customer_id": "C-1", "payment_method": "bank_transfer",
            "previous_payment_method": "cheque"},
        "document.expiring": {
            "document_id": "3f6c2a9e-8b1d-4c7a-9e52-1d0b7a4f6c21", "customer_id": "C-1", "policy_number": "KGFB-1001",
            "doc_type": "premium_notice", "title": "Díjértesítő 2026", "uploaded_at": "2026-11-21T08:00:00+00:00",
            "available_until": "2027-12-21T08:00:00+00:00", "reminded_at": "2027-11-21T08:00:00+00:00"},
        "customer.callback_requested": {
            "request_id": "8d1f0c2a-3b4e-4f6a-9c7d-2e1b0a9f8e7d", "name": "Minta Anna", "phone": "+36301234567",
            "email": "anna.minta@example.org", "policy_number": "KGFB-1001", "topic": "claim",
            "message": "Hol tart a kárbejelentésem?", "preferred_time": "morning", "language": "hu",
            "customer_id": None, "account_id": None, "requested_at": "2026-12-04T16:30:00+00:00",
            "due_on": "2026-12-08", "working_days": 2},
        "account.email_change_requested": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1", "username": "minta.anna",
            "email": "anna.uj@example.org", "current_email": "anna.minta@example.org", "language": "hu",
            "confirm_url_sealed": sealed("confirm_url"), "expires_at": "2026-11-22T10:00:00+00:00"},
        "account.mobile_change_requested": {
            "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "customer_id": "C-1", "mobile": "+36209876543",
            "language": "hu", "code_sealed": sealed("code"), "expires_at": "2026-11-21T10:15:00+00:00"},
        "customer.contact_changed": {
            "customer_id": "C-1", "account_id": "2c9a4f8e-6a5b-4f0e-9a43-1f0a7b2d9c11", "username": "minta.anna",
            "email": "anna.uj@example.org", "mobile": "+36209876543", "language": "hu", "changed": ["email", "mobile"],
            "declaration_email": "anna.uj@example.org", "previous_email": "anna.minta@example.org",
            "previous_mobile": "+36301234567", "changed_at": "2026-11-21T11:00:00+00:00"},
    }


@pytest.fixture
def samples() -> dict[str, dict]:
    """A fresh copy of one sample payload per consumed event (tests may edit them)."""
    return _samples()


@pytest.fixture
def secrets() -> dict[str, str]:
    return dict(SECRETS)


@pytest.fixture
def load():
    """Read a raw payload with notify's consumer schema, as the worker does before calling the handler."""
    def _load(event: str, raw: dict) -> dict:
        return EVENT_SCHEMAS[event]().load(raw)
    return _load


@pytest.fixture
def new_id():
    return lambda: str(uuid.uuid4())
