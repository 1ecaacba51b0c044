"""One place that wires the service: the HTTP API, the worker and the tests all start here."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config, logs
from portal_common.consumer import Handler
from portal_common.db import make_engine, make_session_factory

from . import SERVICE
from .adapters import orm
from .adapters.clock import Clock, SystemClock
from .adapters.hasher import Argon2Hasher, PasswordHasher
from .adapters.policy_directory import HttpPolicyDirectory, PolicyDirectory
from .domain import commands
from .entrypoints.schemas import NotificationFailedSchema, PolicyUpsertedSchema
from .service_layer import handlers, unit_of_work
from .settings import Settings

log = logs.get_logger(__name__)


@dataclass
class Wiring:
    """Everything a handler may ask for, by parameter name."""

    settings: Settings
    clock: Clock
    hasher: PasswordHasher
    directory: PolicyDirectory
    uow_factory: Callable[[], unit_of_work.AbstractUnitOfWork]
    engine: Engine | None = None
    session_factory: sessionmaker | None = None
    extra: dict = field(default_factory=dict)

    def handle(self, fn: Callable, *args):
        """Call a handler with the dependencies its signature names (cosmicpython's ``inject_dependencies``)."""
        available = {"uow": self.uow_factory(), "clock": self.clock, "hasher": self.hasher,
                     "directory": self.directory, "settings": self.settings, **self.extra}
        wanted = {name: available[name] for name in inspect.signature(fn).parameters if name in available}
        return fn(*args, **wanted)


def bootstrap(database_url: str | None = None, *, directory: PolicyDirectory | None = None,
              clock: Clock | None = None, hasher: PasswordHasher | None = None,
              settings: Settings | None = None) -> Wiring:
    orm.start_mappers()
    settings = settings or Settings.from_env()
    engine = make_engine(database_url or config.database_url(SERVICE))
    session_factory = make_session_factory(engine)
    return Wiring(
        settings=settings,
        clock=clock or SystemClock(),
        hasher=hasher or Argon2Hasher(),
        directory=directory or HttpPolicyDirectory(settings.policies_url),
        uow_factory=lambda: unit_of_work.SqlAlchemyUnitOfWork(session_factory),
        engine=engine,
        session_factory=session_factory,
    )


# ------------------------------------------------------------------------------------------------ event handlers
def on_policy_upserted(data: dict, session, meta) -> None:
    """Deliberately nothing: identity keeps no copy of policyholder data. It asks the policies service
    (``POST /internal/policyholders/match``) at identification time, so it always sees the latest state. The handler
    exists because the topology routes ``policy.upserted`` to identity's queue: without one the consumer would
    dead-letter every policy change as "no handler"."""


#: A failed delivery is about the initial password when notify names this cause event or this template
#: (contracts/events/notification.failed.v1.json).
#: account.initial_password_issued since the password left account.activated (v2); the old name for failures of
#: messages recorded before.
INITIAL_PASSWORD_EVENTS = ("account.initial_password_issued", "account.activated")
INITIAL_PASSWORD_TEMPLATE = "initial_password"


def on_notification_failed(data: dict, session, meta) -> None:
    """The SMS with the initial password could not be delivered: remember it on the account, so the portal can
    tell the user to call the telephone service. Other failures (e-mails, reset notices) change nothing here."""
    if data.get("channel") != "sms" or not data.get("account_id"):
        return
    template = data.get("template") or ""
    if (data.get("cause_event") not in INITIAL_PASSWORD_EVENTS and template != INITIAL_PASSWORD_TEMPLATE
            and not template.startswith(INITIAL_PASSWORD_EVENTS)):
        return
    found = handlers.mark_sms_failed(commands.MarkSmsFailed(data["account_id"]),
                                     uow=unit_of_work.SessionUnitOfWork(session))
    if not found:
        log.info("sms_failure_for_unknown_account", account_id=data["account_id"])


#: Event name -> handler. Routed by one registry; the topology's bindings for this service must match it.
EVENT_HANDLERS = {
    "policy.upserted": Handler(on_policy_upserted, PolicyUpsertedSchema()),
    "notification.failed": Handler(on_notification_failed, NotificationFailedSchema()),
}
