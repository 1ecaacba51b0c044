"""One place that wires the service: the HTTP API, the worker, the sweep CLI and the tests all start here. Wiring
only: what each event means is the ``EVENTS`` table, what is done about it is service_layer/handlers.py."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config, logs
from portal_common.db import make_engine, make_session_factory
from portal_common.messagebus import MessageBus, PerCall, Route

from . import SERVICE
from .adapters import orm
from .adapters.object_store import AbstractObjectStore, S3ObjectStore
from .domain import commands
from .domain.model import LIFECYCLE_DAYS
from .entrypoints import schemas
from .service_layer import handlers, unit_of_work
from .settings import Settings

log = logs.get_logger(__name__)

def _document(cmd) -> list[str]:
    return [f"document:{cmd.document_id}"]


def _policy(cmd) -> list[str]:
    return [f"policy:{cmd.policy_number}"]


def _customer(cmd) -> list[str]:
    return [f"customer:{cmd.customer_id}"]


#: The events this service consumes: event -> (schema, command, handler). The topology's bindings must match.
#: ``locks`` names the row each handler writes: the worker applies several batches at once, and a batch locks its
#: rows' names first, sorted, so two batches holding the same document (a redelivery, a re-sent upload) in
#: different orders wait for each other instead of deadlocking (portal_common.consumer, "Concurrent batches").
EVENTS = {
    "document.uploaded": Route(schemas.DocumentUploadedSchema, commands.IngestDocument.from_event,
                               handlers.ingest_document, locks=_document),
    "policy.upserted": Route(schemas.PolicyUpsertedSchema, commands.RecordPolicyOwner.from_event,
                             handlers.record_policy_owner, locks=_policy),
    "account.activated": Route(schemas.AccountActivatedSchema, commands.RegisterCustomer, handlers.register_customer,
                               version=(1, 2), locks=_customer),  # reads customer_id only: the same in both
    "account.closed": Route(schemas.AccountClosedSchema, commands.CloseCustomer, handlers.close_customer,
                            locks=_customer),
    "document.announced": Route(schemas.DocumentAnnouncedSchema, commands.RecordAnnounced, handlers.record_announced,
                                locks=_document),
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Wiring:
    engine: Engine
    session_factory: sessionmaker
    store: AbstractObjectStore
    settings: Settings
    clock: Callable[[], datetime] = field(default=utc_now)

    def uow(self) -> unit_of_work.SqlAlchemyUnitOfWork:
        return unit_of_work.SqlAlchemyUnitOfWork(self.session_factory)

    @cached_property
    def bus(self) -> MessageBus:
        """Handlers get ``uow``, ``store``, ``locations`` and ``now`` by parameter name."""
        return MessageBus(EVENTS, uow=self.uow, joined_uow=unit_of_work.SessionUnitOfWork, store=self.store,
                          locations=self.locations, now=PerCall(self.clock))

    @property
    def locations(self) -> handlers.Locations:
        return handlers.Locations(self.settings.documents_bucket, self.settings.inbox_bucket)

    def ensure_storage(self) -> bool:
        """Buckets + the lifecycle rule (398 days). A store that is down does not stop the process (readiness says
        so, and the worker's sweep thread tries again)."""
        s = self.settings
        try:
            self.store.ensure_buckets(s.documents_bucket, s.inbox_bucket, s.lifecycle_days)
            return True
        except Exception as exc:  # noqa: BLE001
            log.error("storage_setup_failed", error=f"{type(exc).__name__}: {exc}",
                      documents_bucket=s.documents_bucket)
            return False


def bootstrap(database_url: str | None = None, *, store: AbstractObjectStore | None = None,
              settings: Settings | None = None, clock: Callable[[], datetime] | None = None) -> Wiring:
    orm.start_mappers()
    settings = settings or Settings.from_env()
    if settings.lifecycle_days < LIFECYCLE_DAYS:
        log.warning("lifecycle_shorter_than_window", lifecycle_days=settings.lifecycle_days,
                    hint=f"13 calendar months can take 397 days and 1 hour; under {LIFECYCLE_DAYS} days S3 may "
                         "delete documents still shown")
    engine = make_engine(database_url or config.database_url(SERVICE))
    session_factory = make_session_factory(engine)
    store = store or S3ObjectStore.from_settings(settings)
    return Wiring(engine, session_factory, store, settings, clock or utc_now)
