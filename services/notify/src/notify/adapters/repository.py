"""Deliveries and contacts storage: the port, its SQLAlchemy adapter and an in-memory fake for unit tests.

``Store.transaction()`` opens one transaction and yields a repository bound to it (the delivery loop and the API own
their transactions); the consumer's handlers build a :class:`SqlAlchemyRepository` on the worker's session instead.
"""
from __future__ import annotations

import abc
import contextlib
import json
from typing import Iterator

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from portal_common.outbox import add_event

from ..domain.model import EMAIL, PENDING, Contact, Delivery, e164
from . import orm

_DELIVERY_COLUMNS = ("id", "cause_event_id", "cause_event", "template", "channel", "to", "language", "status",
                     "attempts", "next_attempt_at", "last_error", "created_at", "sent_at", "account_id",
                     "customer_id", "correlation_id", "subject_key")
_CONTACT_COLUMNS = ("customer_id", "declaration_email", "account_email", "mobile", "language",
                    "declaration_changed_at", "closed_at", "updated_at")


def normalize_to(to: str) -> str:
    """How an operator's ``to=`` filter is compared: e-mail addresses lower case, phone numbers as stored (E.164,
    ``+36301234567``: identity normalised them)."""
    to = to.strip()
    return to.lower() if "@" in to else (e164(to) or to)


class AbstractRepository(abc.ABC):
    @abc.abstractmethod
    def add_delivery(self, delivery: Delivery) -> bool:
        """Insert unless the same message (cause event + template + channel, or subject) exists. True if added."""

    @abc.abstractmethod
    def get_contact(self, customer_id: str) -> Contact | None: ...

    @abc.abstractmethod
    def save_contact(self, contact: Contact) -> None: ...

    @abc.abstractmethod
    def claim_due(self, now, limit: int = 1) -> list[Delivery]:
        """Pending deliveries whose time has come, locked for this transaction (others skip them)."""

    @abc.abstractmethod
    def save_delivery(self, delivery: Delivery) -> None: ...

    @abc.abstractmethod
    def add_event(self, name: str, payload: dict, correlation_id: str | None = None) -> str: ...

    @abc.abstractmethod
    def list_deliveries(self, to: str | None = None, limit: int = 50, status: str | None = None) -> list[Delivery]: ...


class SqlAlchemyRepository(AbstractRepository):
    def __init__(self, session: Session):
        self.session = session

    def add_delivery(self, delivery: Delivery) -> bool:
        values = {c: getattr(delivery, c) for c in _DELIVERY_COLUMNS}
        values["payload"] = json.dumps(delivery.payload, ensure_ascii=False)
        dialect = self.session.get_bind().dialect.name
        # ON CONFLICT DO NOTHING instead of catching IntegrityError: a failed insert would poison the consumer's
        # savepoint, and two workers racing on one redelivered message must both succeed quietly.
        if dialect == "postgresql":
            stmt = postgresql.insert(orm.deliveries).values(**values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(orm.deliveries).values(**values).on_conflict_do_nothing()
        else:  # pragma: no cover - only PostgreSQL and SQLite are supported
            raise RuntimeError(f"unsupported database {dialect}")
        return self.session.execute(stmt).rowcount == 1

    def get_contact(self, customer_id: str) -> Contact | None:
        row = self.session.execute(select(orm.contacts).where(orm.contacts.c.customer_id == customer_id)).mappings().first()
        return Contact(**{c: row[c] for c in _CONTACT_COLUMNS}) if row else None

    def save_contact(self, contact: Contact) -> None:
        values = {c: getattr(contact, c) for c in _CONTACT_COLUMNS}
        t = orm.contacts
        done = self.session.execute(update(t).where(t.c.customer_id == contact.customer_id).values(**values))
        if done.rowcount == 0:
            self.session.execute(t.insert().values(**values))

    def claim_due(self, now, limit: int = 1) -> list[Delivery]:
        t = orm.deliveries
        query = (select(t).where(t.c.status == PENDING, t.c.next_attempt_at <= now)
                 .order_by(t.c.next_attempt_at).limit(limit))
        if self.session.get_bind().dialect.name == "postgresql":
            # Several workers side by side: each takes rows nobody else holds. (SQLite has one writer anyway.)
            query = query.with_for_update(skip_locked=True)
        return [_delivery(r) for r in self.session.execute(query).mappings().all()]

    def save_delivery(self, delivery: Delivery) -> None:
        t = orm.deliveries
        self.session.execute(update(t).where(t.c.id == delivery.id).values(
            status=delivery.status, attempts=delivery.attempts, next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error, sent_at=delivery.sent_at,
            payload=json.dumps(delivery.payload, ensure_ascii=False)))

    def add_event(self, name: str, payload: dict, correlation_id: str | None = None) -> str:
        return add_event(self.session, name, payload, correlation_id=correlation_id)

    def list_deliveries(self, to: str | None = None, limit: int = 50, status: str | None = None) -> list[Delivery]:
        t = orm.deliveries
        query = select(t).order_by(t.c.created_at.desc(), t.c.id).limit(limit)
        if to:
            query = query.where(func.lower(t.c.to) == normalize_to(to))
        if status:
            query = query.where(t.c.status == status)
        return [_delivery(r) for r in self.session.execute(query).mappings().all()]


def _delivery(row) -> Delivery:
    return Delivery(payload=json.loads(row["payload"]), **{c: row[c] for c in _DELIVERY_COLUMNS})


class FakeRepository(AbstractRepository):
    """In memory, same rules (uniqueness, due order); ``events`` collects what would go to the outbox."""

    def __init__(self):
        self.deliveries: dict[str, Delivery] = {}
        self.contacts: dict[str, Contact] = {}
        self.events: list[tuple[str, dict]] = []

    def add_delivery(self, delivery: Delivery) -> bool:
        for d in self.deliveries.values():
            same_cause = (d.cause_event_id, d.template, d.channel) == (
                delivery.cause_event_id, delivery.template, delivery.channel)
            same_subject = delivery.subject_key is not None and (d.template, d.channel, d.subject_key) == (
                delivery.template, delivery.channel, delivery.subject_key)
            if same_cause or same_subject:
                return False
        self.deliveries[delivery.id] = _copy(delivery)
        return True

    def get_contact(self, customer_id: str) -> Contact | None:
        c = self.contacts.get(customer_id)
        return Contact(**vars(c)) if c else None

    def save_contact(self, contact: Contact) -> None:
        self.contacts[contact.customer_id] = Contact(**vars(contact))

    def claim_due(self, now, limit: int = 1) -> list[Delivery]:
        due = sorted((d for d in self.deliveries.values() if d.status == PENDING and d.next_attempt_at <= now),
                     key=lambda d: d.next_attempt_at)
        return [_copy(d) for d in due[:limit]]

    def save_delivery(self, delivery: Delivery) -> None:
        self.deliveries[delivery.id] = _copy(delivery)

    def add_event(self, name: str, payload: dict, correlation_id: str | None = None) -> str:
        self.events.append((name, payload))
        return str(len(self.events))

    def list_deliveries(self, to: str | None = None, limit: int = 50, status: str | None = None) -> list[Delivery]:
        rows = [d for d in self.deliveries.values()
                if (not to or (d.to or "").lower() == normalize_to(to)) and (not status or d.status == status)]
        return sorted(rows, key=lambda d: d.created_at, reverse=True)[:limit]

    def by_template(self, template: str, channel: str = EMAIL) -> list[Delivery]:
        return [d for d in self.deliveries.values() if d.template == template and d.channel == channel]


def _copy(d: Delivery) -> Delivery:
    return Delivery(**{**vars(d), "payload": dict(d.payload)})


class AbstractStore(abc.ABC):
    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[AbstractRepository]:
        """Commit when the block ends normally, roll back on an exception."""


class SqlStore(AbstractStore):
    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    @contextlib.contextmanager
    def transaction(self) -> Iterator[AbstractRepository]:
        with self.session_factory() as session, session.begin():
            yield SqlAlchemyRepository(session)


class FakeStore(AbstractStore):
    def __init__(self, repo: FakeRepository | None = None):
        self.repo = repo or FakeRepository()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[AbstractRepository]:
        yield self.repo
