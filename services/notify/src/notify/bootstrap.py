"""One place that wires the service: the HTTP API, the worker and the tests all start here. Wiring only."""
from __future__ import annotations

from dataclasses import dataclass
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from portal_common import config
from portal_common.db import make_engine, make_session_factory, utcnow
from portal_common.messagebus import Ignored, MessageBus, Route, ignore
from portal_common.sealing import default_sealer

from . import SERVICE
from .adapters.mailer import Mailer, SmtpMailer
from .adapters.repository import SqlStore
from .adapters.sms import HttpSmsGateway, SmsGateway
from .adapters.templates import Renderer
from .entrypoints.schemas import EVENT_SCHEMAS, EVENT_VERSIONS, NothingSchema
from .service_layer import recording
from .service_layer.delivery import DeliveryLoop
from .settings import Settings


#: The events this service consumes: event -> (schema, command, handler). Every one records the deliveries it asks
#: for (service_layer/recording.py); the topology routes account.*, customer.*, document.available and
#: policy.enrolled here, and each needs an entry (tests/unit/test_contracts.py checks every event in contracts/).
EVENTS = {name: Route(schema, recording.EventFields, recording.record_event, version=EVENT_VERSIONS.get(name, 1))
          for name, schema in EVENT_SCHEMAS.items()}

#: Events the ``account.*`` binding routes here that notify tells nobody about: acknowledged and left alone, not
#: dead-lettered as unknown. ``account.sessions_ended`` is for the gateway's cache (issue 9).
IGNORED = ("account.sessions_ended",)
EVENTS.update({name: Route(NothingSchema, Ignored.from_event, ignore) for name in IGNORED})


@dataclass
class Wiring:
    engine: Engine
    session_factory: sessionmaker
    bus: MessageBus

    def store(self) -> SqlStore:
        return SqlStore(self.session_factory)


def bootstrap(database_url: str | None = None) -> Wiring:
    engine = make_engine(database_url or config.database_url(SERVICE))
    session_factory = make_session_factory(engine)
    bus = MessageBus(EVENTS, uow=lambda: SqlStore(session_factory), joined_uow=recording.JoinedRecording,
                     clock=utcnow)
    return Wiring(engine, session_factory, bus)


def build_delivery_loop(wiring: Wiring, settings: Settings | None = None, *, mailer: Mailer | None = None,
                        sms: SmsGateway | None = None, **kwargs) -> DeliveryLoop:
    settings = settings or Settings.from_env()
    default_sealer()  # the delivery loop opens what identity sealed: a missing or demo key stops the worker at start
    mailer = mailer or SmtpMailer(settings.smtp_url, settings.smtp_from, timeout=settings.smtp_timeout)
    sms = sms or HttpSmsGateway(settings.sms_url, timeout=settings.sms_timeout)
    return DeliveryLoop(wiring.store(), mailer, sms, Renderer(settings), settings, **kwargs)
