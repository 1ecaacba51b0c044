"""Unit-test fixtures: the real app with in-memory fake clients (no services, no network)."""
from __future__ import annotations

import re

import pytest

from gateway.app import create_app
from gateway.clients.fakes import fake_clients

PASSWORD = "correct horse battery"


@pytest.fixture()
def fakes():
    clients = fake_clients()
    clients.identity.add_holder(customer_id="C-1", policy_number="KGFB-1")
    clients.identity.add_holder(customer_id="C-2", policy_number="HOME-2")  # a policyholder without an account
    clients.identity.add_account(username="anna", password=PASSWORD, customer_id="C-1")
    clients.policies.add_policy("KGFB-1", customer_id="C-1", product="kgfb", payment_method="direct_debit")
    return clients


@pytest.fixture()
def app(fakes, tmp_path):
    return create_app({"CLIENTS": fakes, "WTF_CSRF_ENABLED": False, "TESTING": True, "DEV_VAR_DIR": str(tmp_path)})


@pytest.fixture()
def client(app):
    return app.test_client()


def login(client, username="anna", password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture()
def logged_in(client):
    response = login(client)
    assert response.status_code == 302, response.data
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, field: str) -> str | None:
    """The red message rendered under ``field`` (None when there is none)."""
    match = re.search(rf'<p class="field__error" id="{field}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else None


def input_tag(html: str, field: str) -> str:
    match = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{field}"[^>]*>', html)
    assert match, f"no input {field}"
    return match.group(0)
