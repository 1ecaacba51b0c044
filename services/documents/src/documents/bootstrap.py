"""One place that wires the service: the HTTP API, the worker, the sweep CLI and the tests all start here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config, logs
from portal_common.consumer import Handler, PermanentError
from portal_common.db import make_engine, make_session_factory

from . import SERVICE
from .adapters import orm, post_commit
from .adapters.object_store import AbstractObjectStore, S3ObjectStore
from .domain import commands
from .entrypoints import schemas
from .service_layer import handlers, unit_of_work
from .settings import Settings

log = logs.get_logger(__name__)


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

    @property
    def locations(self) -> handlers.Locations:
        return handlers.Locations(self.settings.documents_bucket, self.settings.inbox_bucket)

    def ensure_storage(self) -> bool:
        """Buckets + the 397-day lifecycle rule. A store that is down does not stop the process (readiness says
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
    if settings.lifecycle_days < 397:
        log.warning("lifecycle_shorter_than_window", lifecycle_days=settings.lifecycle_days,
                    hint="13 calendar months can take 397 days; S3 may delete documents still shown")
    engine = make_engine(database_url or config.database_url(SERVICE))
    session_factory = make_session_factory(engine)
    store = store or S3ObjectStore.from_settings(settings)
    post_commit.install(session_factory, store)
    return Wiring(engine, session_factory, store, settings, clock or utc_now)


# --------------------------------------------------------------------------------------------------- event handlers
def build_event_handlers(wiring: Wiring) -> dict[str, Handler]:
    """Event name -> handler. The topology's bindings for this service (contracts/topology.json) must match."""

    def on_document_uploaded(data: dict, session, meta) -> None:
        cmd = commands.IngestDocument(**{**data, "document_id": str(data["document_id"])})
        try:
            doc = handlers.ingest_document(cmd, unit_of_work.SessionUnitOfWork(session), wiring.store,
                                           wiring.locations, wiring.clock())
        except handlers.Rejected as exc:
            # Counted once, when dead-lettered: portal_messages_dead_lettered_total{service="documents",reason=…}.
            log.warning("document_rejected", document_id=cmd.document_id, reason=exc.reason, detail=str(exc))
            raise PermanentError(str(exc)) from exc
        except handlers.PolicyNotKnownYet as exc:
            # Not permanent: the shared consumer retries with back-off (the policy's batch may not have committed
            # yet) and dead-letters only after the last attempt.
            log.info("document_policy_not_known_yet", document_id=cmd.document_id, reason=exc.reason,
                     detail=str(exc))
            raise
        if doc is not None:
            log.info("document_stored", document_id=doc.document_id, policy_number=doc.policy_number,
                     doc_type=doc.doc_type, size=doc.size)

    def on_policy_upserted(data: dict, session, meta) -> None:
        handlers.record_policy_owner(commands.RecordPolicyOwner(
            data["policy_number"], data["policyholder"]["customer_id"], data["updated_at"]),
            unit_of_work.SessionUnitOfWork(session))

    def on_account_activated(data: dict, session, meta) -> None:
        handlers.register_customer(commands.RegisterCustomer(data["customer_id"]),
                                   unit_of_work.SessionUnitOfWork(session), wiring.clock())

    def on_account_closed(data: dict, session, meta) -> None:
        handlers.close_customer(commands.CloseCustomer(data["customer_id"], data.get("closed_at")),
                                unit_of_work.SessionUnitOfWork(session), wiring.clock())

    def on_document_announced(data: dict, session, meta) -> None:
        """notify e-mailed the new-document announcement: the delivery record's "announced" moment."""
        handlers.record_announced(unit_of_work.SessionUnitOfWork(session), str(data["document_id"]),
                                  data["customer_id"], data["sent_at"])

    return {
        "document.announced": Handler(on_document_announced, schemas.DocumentAnnouncedSchema()),
        "document.uploaded": Handler(on_document_uploaded, schemas.DocumentUploadedSchema()),
        "policy.upserted": Handler(on_policy_upserted, schemas.PolicyUpsertedSchema()),
        "account.activated": Handler(on_account_activated, schemas.AccountActivatedSchema()),
        "account.closed": Handler(on_account_closed, schemas.AccountClosedSchema()),
    }
