"""Producer side: every event identity emits validates against contracts/events/<event>.v<N>.json, N being the
version identity publishes (its event class's ``version``), and carries no secret in clear.
Consumer side: the example of every event identity consumes loads through its marshmallow schema.
HTTP: contracts/http/identity.openapi.json is exactly what the code documents."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import FakeHasher
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.adapters.repository import FakeRepository
from identity.bootstrap import EVENTS, Wiring
from identity.domain import commands, events
from identity.entrypoints import openapi
from identity.service_layer import contact, handlers
from identity.service_layer.unit_of_work import FakeUnitOfWork
from identity.settings import Settings
from portal_common.events import IntegrationEvent
from portal_common.testing import unsealed

CONTRACTS = Path(__file__).resolve().parents[4] / "contracts"
PRODUCED = ("customer.declared", "customer.declaration_withdrawn", "account.activation_requested",
            "account.activated", "account.initial_password_issued", "account.locked", "account.credentials_reset",
            "account.password_changed", "account.closed", "customer.callback_requested",
            "account.email_change_requested", "account.mobile_change_requested", "customer.contact_changed",
            "account.sessions_ended")
EVENT_VERSIONS = {c.name: c.version for c in vars(events).values()
                  if isinstance(c, type) and issubclass(c, IntegrationEvent) and c is not IntegrationEvent}
SECRETS = {"account.activation_requested": ("activation_url_sealed",),
           "account.initial_password_issued": ("initial_password_sealed",),
           "account.credentials_reset": ("one_time_password_sealed",),
           "account.email_change_requested": ("confirm_url_sealed",), "account.mobile_change_requested": ("code_sealed",)}


def schema_of(event: str) -> dict:
    return json.loads((CONTRACTS / "events" / f"{event}.v{EVENT_VERSIONS.get(event, 1)}.json").read_text(encoding="utf-8"))


def example_of(event: str) -> dict:
    version = EVENT_VERSIONS.get(event, 1)
    return json.loads((CONTRACTS / "events" / "examples" / f"{event}.v{version}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def emitted() -> list:
    """Walk every journey once with fakes and collect what would go into the outbox."""
    from datetime import date

    ident = commands.Identification("KGFB-1001", "Minta Anna", "Példa Anna", date(1985, 7, 14), "Debrecen",
                                    "Teszt Mária")
    directory = FakePolicyDirectory([(ident, Policyholder("C-1001", None, None, True))])
    repo, published, hasher, clock = FakeRepository(), _Published(), FakeHasher(), FakeClock()
    w = Wiring(Settings(), clock, hasher, directory, lambda: FakeUnitOfWork(repo, published))
    w.handle(handlers.declare, commands.Declare(ident, "anna@example.com", "hu", "10.0.0.1"))
    w.handle(handlers.withdraw_declaration, commands.WithdrawDeclaration("C-1001"))
    account = w.handle(handlers.register, commands.Register(ident, "anna@example.com", "+36301234567",
                                                            "minta.anna", "en", "10.0.0.1",
                                                            accept_declaration=True))
    token = unsealed([p for n, p, _ in published if n == "account.activation_requested"][-1], "activation_url").split("/")[-1]
    w.handle(handlers.activate, commands.Activate(token))
    initial = unsealed([p for n, p, _ in published if n == "account.initial_password_issued"][-1], "initial_password")
    for _ in range(3):
        try:
            w.handle(handlers.login, commands.Login("minta.anna", "wrong-password-1"))
        except Exception:  # noqa: BLE001 - 401 twice, then 423
            pass
    w.handle(handlers.request_recovery, commands.RequestRecovery("anna@example.com", "+36301234567"))
    otp = unsealed([p for n, p, _ in published if n == "account.credentials_reset"][-1], "one_time_password")
    session_id, _ = w.handle(handlers.login, commands.Login("minta.anna", otp))
    w.handle(handlers.change_password, commands.ChangePassword(account.account_id, otp, "Sajat-Uj-Jelszo-42"))
    w.handle(contact.request_callback, commands.RequestCallback(
        "form-key-0123456789abcdef", "Minta Anna", "+36301234567", "anna@example.com", "claim", "Kérdésem van.",
        "morning", "hu", "10.0.0.1", policy_number="KGFB-1001", account_id=account.account_id))
    w.handle(contact.request_callback, commands.RequestCallback(
        "form-key-anonymous-0123", "Teszt Béla", "06 1 555 0100", "bela@example.com", "other", "Kérdés.", "any", "en",
        "10.0.0.2"))
    w.handle(contact.request_email_change, commands.RequestEmailChange(account.account_id, "Sajat-Uj-Jelszo-42",
                                                                       "anna.uj@example.com"))
    link = unsealed([p for n, p, _ in published if n == "account.email_change_requested"][-1], "confirm_url")
    w.handle(contact.confirm_email_change, commands.ConfirmEmailChange(link.rsplit("/", 1)[1]))
    w.handle(contact.request_mobile_change, commands.RequestMobileChange(account.account_id, "Sajat-Uj-Jelszo-42",
                                                                         "+36209876543"))
    code = unsealed([p for n, p, _ in published if n == "account.mobile_change_requested"][-1], "code")
    w.handle(contact.confirm_mobile_change, commands.ConfirmMobileChange(account.account_id, code))
    w.handle(contact.set_language, commands.SetLanguage(account.account_id, "hu"))
    w.handle(handlers.close_account, commands.CloseAccount(account.account_id, "Sajat-Uj-Jelszo-42"))
    assert initial
    published.secrets = (token, initial, otp, link, code, session_id, handlers.sha256(session_id))
    return published


@pytest.mark.parametrize("event", PRODUCED)
def test_what_identity_emits_validates_against_the_contract(event, emitted):
    payloads = [(p, secret) for n, p, secret in emitted if n == event]
    assert payloads, f"the journey did not emit {event}"
    validator = Draft202012Validator(schema_of(event), format_checker=Draft202012Validator.FORMAT_CHECKER)
    for payload, secret in payloads:
        assert [e.message for e in validator.iter_errors(payload)] == []
        assert secret == SECRETS.get(event, ())


def test_no_event_carries_a_secret_in_clear(emitted):
    """Only identity and notify can open the sealed values; the broker, other services and the outbox see ciphertext."""
    for name, payload, _ in emitted:
        text = json.dumps(payload, ensure_ascii=False)
        for secret in emitted.secrets:
            # the 6-digit SMS code is checked as a JSON string value (digits alone could appear inside a UUID)
            assert secret not in text if len(secret) > 6 else f'"{secret}"' not in text, name


class _Published(list):
    secrets: tuple = ()


@pytest.mark.parametrize("event", PRODUCED)
def test_every_produced_event_has_a_schema_and_an_example(event):
    Draft202012Validator.check_schema(schema_of(event))
    Draft202012Validator(schema_of(event)).validate(example_of(event))


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_the_example_of_every_consumed_event_loads(event):
    data = EVENTS[event].load(example_of(event))
    assert data  # the fields identity reads are there


def test_notification_failed_example_is_recognised_as_an_initial_password_failure():
    example = EVENTS["notification.failed"].load(example_of("notification.failed"))
    assert example["channel"] == "sms" and example["account_id"]
    assert example["cause_event"] == "account.activated" or example["template"] == "initial_password"


def test_the_committed_openapi_document_is_current():
    committed = (CONTRACTS / openapi.SPEC.output).read_text(encoding="utf-8")
    assert committed == openapi.SPEC.render(), "run: .venv/bin/python -m identity.entrypoints.openapi"
