"""One place that wires the service: the HTTP API, the worker and the tests all start here."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config
from portal_common.consumer import Handler
from portal_common.db import make_engine, make_session_factory

from . import SERVICE
from .adapters import orm
from .domain import commands
from .entrypoints.schemas import PolicyUpsertedSchema
from .service_layer import handlers, unit_of_work


@dataclass
class Wiring:
    engine: Engine
    session_factory: sessionmaker

    def uow(self) -> unit_of_work.SqlAlchemyUnitOfWork:
        return unit_of_work.SqlAlchemyUnitOfWork(self.session_factory)


def bootstrap(database_url: str | None = None) -> Wiring:
    orm.start_mappers()
    engine = make_engine(database_url or config.database_url(SERVICE))
    return Wiring(engine, make_session_factory(engine))


def on_policy_upserted(data: dict, session, meta) -> None:
    holder, premium = data["policyholder"], data["premium"]
    cmd = commands.UpsertPolicy(
        policy_number=data["policy_number"], product=data["product"], status=data["status"],
        payment_method=data["payment_method"], premium_amount=premium["amount"],
        premium_frequency=premium["frequency"], start_date=data["start_date"], updated_at=data["updated_at"],
        **holder,
    )
    handlers.upsert_policy(cmd, unit_of_work.SessionUnitOfWork(session))


#: Event name -> handler. Routed by one registry; the topology's bindings for this service must match it.
EVENT_HANDLERS = {
    "policy.upserted": Handler(on_policy_upserted, PolicyUpsertedSchema()),
}
