"""One place that wires the service: the HTTP API, the worker and the tests all start here. Wiring only."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config
from portal_common.db import make_engine, make_session_factory
from portal_common.messagebus import Ignored, MessageBus, Route

from . import SERVICE
from .adapters import orm
from .adapters.clock import Clock, SystemClock
from .adapters.hasher import Argon2Hasher, PasswordHasher
from .adapters.policy_directory import HttpPolicyDirectory, PolicyDirectory
from .domain import commands
from .entrypoints.schemas import NotificationFailedSchema, PolicyUpsertedSchema
from .service_layer import handlers, unit_of_work
from .settings import Settings

#: The events this service consumes: event -> (schema, command, handler). The topology's bindings must match.
EVENTS = {
    "policy.upserted": Route(PolicyUpsertedSchema, Ignored.from_event, handlers.policy_changed),
    "notification.failed": Route(NotificationFailedSchema, commands.NoteNotificationFailed,
                                 handlers.note_notification_failed),
}


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

    @property
    def bus(self) -> MessageBus:
        """Built from the current fields (tests swap the clock or the unit of work factory on a live wiring)."""
        return MessageBus(EVENTS, uow=self.uow_factory, joined_uow=unit_of_work.SessionUnitOfWork,
                          clock=self.clock, hasher=self.hasher, directory=self.directory, settings=self.settings,
                          **self.extra)

    def handle(self, fn: Callable, *args):
        """Call a handler with the dependencies its signature names (see portal_common.messagebus)."""
        return self.bus.handle(fn, *args)


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
