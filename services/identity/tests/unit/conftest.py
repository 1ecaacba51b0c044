"""Unit-test wiring: every port is a fake (repository/unit of work, clock, hasher, policy directory)."""
from __future__ import annotations

from datetime import date

import pytest
from portal_common.testing import unsealed

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import FakeHasher
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.adapters.repository import FakeRepository
from identity.bootstrap import Wiring
from identity.domain import commands
from identity.service_layer.unit_of_work import FakeUnitOfWork
from identity.settings import Settings

ANNA = commands.Identification(policy_number="KGFB-1001", name="Minta Anna", birth_name="Példa Anna",
                               birth_date=date(1985, 7, 14), birth_place="Debrecen", mother_name="Teszt Mária")
BELA = commands.Identification(policy_number="HOME-2002", name="Teszt Béla", birth_name="Teszt Béla",
                               birth_date=date(1970, 1, 2), birth_place="Szeged", mother_name="Minta Éva")
CHEQUE = commands.Identification(policy_number="CASCO-3003", name="Csekk Cecília", birth_name="Csekk Cecília",
                                 birth_date=date(1990, 3, 4), birth_place="Pécs", mother_name="Példa Piroska")


class World:
    """The service with fakes, plus shortcuts the tests share."""

    def __init__(self):
        self.anna, self.bela, self.cheque = ANNA, BELA, CHEQUE
        self.clock = FakeClock()
        self.hasher = FakeHasher()
        self.repo = FakeRepository()
        self.published: list = []
        self.directory = FakePolicyDirectory()
        self.directory.add(ANNA, Policyholder("C-1001", "anna@example.com", "+36301234567", True))
        self.directory.add(BELA, Policyholder("C-2002", "bela@example.com", "+36201112222", True))
        self.directory.add(CHEQUE, Policyholder("C-3003", None, None, False))
        self.settings = Settings()
        self.wiring = Wiring(settings=self.settings, clock=self.clock, hasher=self.hasher, directory=self.directory,
                             uow_factory=lambda: FakeUnitOfWork(self.repo, self.published))

    def handle(self, fn, *args):
        return self.wiring.handle(fn, *args)

    def events(self, name: str | None = None) -> list[dict]:
        return [payload for n, payload, _ in self.published if name is None or n == name]

    def secrets_of(self, name: str) -> tuple:
        return next(secret for n, _, secret in self.published if n == name)

    def active_account(self, username="minta.anna", password="Kezdo-Jelszo-2026", ident=ANNA,
                       email="anna@example.com", mobile="+36301234567"):
        """Register, activate, and set a known password (skipping the SMS)."""
        from identity.service_layer import handlers

        account = self.handle(handlers.register, commands.Register(ident, email, mobile, username, "hu", "10.0.0.1",
                                                                       accept_declaration=True))
        url = unsealed(self.events("account.activation_requested")[-1], "activation_url")
        self.handle(handlers.activate, commands.Activate(url.rsplit("/", 1)[1]))
        account = self.repo.get_account(account.account_id)
        account.password_hash = self.hasher.hash(password)
        account.must_change_password = False
        return account


@pytest.fixture
def world() -> World:
    return World()
