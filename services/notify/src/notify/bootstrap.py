"""One place that wires the service: the HTTP API, the worker and the tests all start here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal_common import config
from portal_common.consumer import Handler, MessageMeta
from portal_common.db import make_engine, make_session_factory, utcnow
from portal_common.sealing import default_sealer

from . import SERVICE
from .adapters.mailer import Mailer, SmtpMailer
from .adapters.repository import SqlAlchemyRepository, SqlStore
from .adapters.sms import HttpSmsGateway, SmsGateway
from .adapters.templates import Renderer
from .entrypoints.schemas import EVENT_SCHEMAS
from .service_layer import recording
from .service_layer.delivery import DeliveryLoop
from .settings import Settings


@dataclass
class Wiring:
    engine: Engine
    session_factory: sessionmaker

    def store(self) -> SqlStore:
        return SqlStore(self.session_factory)


def bootstrap(database_url: str | None = None) -> Wiring:
    engine = make_engine(database_url or config.database_url(SERVICE))
    return Wiring(engine, make_session_factory(engine))


def on_event(data: dict, session: Session, meta: MessageMeta) -> None:
    """Every routed event: record its deliveries in the worker's transaction (the worker commits, then acks)."""
    recording.record(meta.event, data, message_id=meta.message_id, now=utcnow(),
                     repo=SqlAlchemyRepository(session), correlation_id=meta.correlation_id,
                     occurred_at=_occurred_at(meta))


def _occurred_at(meta: MessageMeta) -> datetime | None:
    """The ``occurred_at`` header the portal's outbox sets on every event (absent on a bare message)."""
    raw = (meta.headers or {}).get("occurred_at")
    try:
        moment = datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


#: Event name -> handler. The topology routes account.*, customer.*, document.available and policy.enrolled here;
#: each of them needs an entry, or the consumer dead-letters it as "no handler".
EVENT_HANDLERS = {name: Handler(on_event, schema()) for name, schema in EVENT_SCHEMAS.items()}


def build_delivery_loop(wiring: Wiring, settings: Settings | None = None, *, mailer: Mailer | None = None,
                        sms: SmsGateway | None = None, **kwargs) -> DeliveryLoop:
    settings = settings or Settings.from_env()
    default_sealer()  # the delivery loop opens what identity sealed: a missing or demo key stops the worker at start
    mailer = mailer or SmtpMailer(settings.smtp_url, settings.smtp_from, timeout=settings.smtp_timeout)
    sms = sms or HttpSmsGateway(settings.sms_url, timeout=settings.sms_timeout)
    return DeliveryLoop(wiring.store(), mailer, sms, Renderer(settings), settings, **kwargs)
