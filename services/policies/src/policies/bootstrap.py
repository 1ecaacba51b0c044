"""One place that wires the service: the HTTP API, the worker and the tests all start here. Wiring only."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config
from portal_common.db import make_engine, make_session_factory
from portal_common.messagebus import MessageBus, Route

from . import SERVICE
from .adapters import orm
from .domain import commands
from .entrypoints.schemas import PolicyUpsertedSchema
from .service_layer import handlers, unit_of_work

#: The events this service consumes: event -> (schema, command, handler). The topology's bindings must match.
EVENTS = {
    "policy.upserted": Route(PolicyUpsertedSchema, commands.UpsertPolicy.from_event, handlers.upsert_policy),
}


@dataclass
class Wiring:
    engine: Engine
    session_factory: sessionmaker
    bus: MessageBus

    def uow(self) -> unit_of_work.SqlAlchemyUnitOfWork:
        return unit_of_work.SqlAlchemyUnitOfWork(self.session_factory)


def bootstrap(database_url: str | None = None) -> Wiring:
    orm.start_mappers()
    engine = make_engine(database_url or config.database_url(SERVICE))
    session_factory = make_session_factory(engine)
    bus = MessageBus(EVENTS, uow=lambda: unit_of_work.SqlAlchemyUnitOfWork(session_factory),
                     joined_uow=unit_of_work.SessionUnitOfWork)
    return Wiring(engine, session_factory, bus)
