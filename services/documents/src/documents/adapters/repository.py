"""Repository port and its adapters: documents, the policy-owner projection and customers."""
from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, exists, func, select
from sqlalchemy.orm import Session

from ..domain import model
from . import orm


@dataclass(frozen=True)
class DocumentFilter:
    customer_id: str
    policy_number: str | None = None
    doc_type: str | None = None
    sort: str = "date"  # model.SORTS
    descending: bool = True  # newest first (for "type"/"policy": Z-A); ties always newest first


class Listing(NamedTuple):
    closed: bool  # the customer's registration is closed: nothing of theirs is served
    documents: list  # model.Document, or model.DocumentRow from a read-only query (same attributes)
    total: int
    unread: int


class AbstractRepository(abc.ABC):
    def __init__(self):
        self.seen: set[model.Document] = set()

    # -- documents
    def get(self, document_id: str) -> model.Document | None:
        doc = self._get(document_id)
        if doc is not None:
            self.seen.add(doc)
        return doc

    def add(self, doc: model.Document) -> None:
        self._add(doc)
        self.seen.add(doc)

    @abc.abstractmethod
    def _get(self, document_id: str) -> model.Document | None: ...

    @abc.abstractmethod
    def _add(self, doc: model.Document) -> None: ...

    @abc.abstractmethod
    def delete(self, doc: model.Document) -> None: ...

    def lock(self, doc: model.Document) -> None:
        """Lock the document's row until the transaction ends and read it again: of two simultaneous first reads
        the second waits, then finds it read (one ``document.read``). Nothing to lock in memory."""

    @abc.abstractmethod
    def list(self, where: DocumentFilter, limit: int, offset: int = 0) -> list[model.Document]:
        """Newest first (by ``uploaded_at``, then ``document_id``: a stable order to page through)."""

    def listing(self, where: DocumentFilter, limit: int, offset: int, now: datetime) -> Listing:
        """One page with both counts and whether the customer's registration is closed: what the list endpoint
        needs, which an adapter may read in one query (the default asks :meth:`list` and :meth:`counts`)."""
        customer = self.get_customer(where.customer_id)
        if customer is not None and customer.closed:
            return Listing(True, [], 0, 0)
        total, unread = self.counts(where, now)
        return Listing(False, self.list(where, limit, offset), total, unread)

    @abc.abstractmethod
    def counts(self, where: DocumentFilter, now: datetime) -> tuple[int, int]:
        """``(total, unread)``: documents matching the filters (expired ones included, as the list shows them), and
        the unread ones still inside their window — one query."""

    @abc.abstractmethod
    def expired(self, now: datetime, limit: int) -> list[model.Document]: ...

    @abc.abstractmethod
    def reminder_candidates(self, now: datetime, until: datetime, limit: int) -> list[model.Document]:
        """Unread, not reminded, window ending in ``(now, until]``, oldest window first."""

    @abc.abstractmethod
    def of_customer(self, customer_id: str) -> list[model.Document]:
        """Every stored document of the customer (the operators' delivery records), newest first."""

    # -- projections
    @abc.abstractmethod
    def get_policy_owner(self, policy_number: str) -> model.PolicyOwner | None: ...

    @abc.abstractmethod
    def add_policy_owner(self, owner: model.PolicyOwner) -> None: ...

    @abc.abstractmethod
    def get_customer(self, customer_id: str) -> model.Customer | None: ...

    @abc.abstractmethod
    def add_customer(self, customer: model.Customer) -> None: ...


class SqlAlchemyRepository(AbstractRepository):
    def __init__(self, session: Session, read=None):
        super().__init__()
        self.session = session
        #: runs one read-only Core statement -> rows (the unit of work's ``read``: outside the ORM Session)
        self.read = read or (lambda statement, params=None: session.execute(statement, params).all())

    def _get(self, document_id):
        return self.session.get(model.Document, document_id)

    def _add(self, doc):
        self.session.add(doc)

    def delete(self, doc):
        self.session.delete(doc)

    def lock(self, doc):
        self.session.refresh(doc, with_for_update=True)  # SQLite: no row locks; its one writer serialises

    def _filtered(self, query, where: DocumentFilter):
        D = model.Document
        query = query.where(D.customer_id == where.customer_id)
        if where.policy_number:
            query = query.where(D.policy_number == where.policy_number)
        if where.doc_type:
            query = query.where(D.doc_type == where.doc_type)
        return query

    def list(self, where, limit, offset=0):
        D = model.Document
        key = {"type": D.doc_type, "policy": D.policy_number}.get(where.sort)
        first = [] if key is None else [key.desc() if where.descending else key.asc()]
        newest = D.uploaded_at.asc() if (key is None and not where.descending) else D.uploaded_at.desc()
        query = (self._filtered(select(D), where).order_by(*first, newest, D.document_id)
                 .limit(limit).offset(offset))
        return list(self.session.scalars(query))

    def listing(self, where, limit, offset, now):
        # One round trip for the whole page: the rows (Core, no ORM objects: nothing here is changed), both counts
        # as window aggregates over every matching row (computed before LIMIT), and the closed-registration check
        # folded into the WHERE. An empty page cannot tell "closed" from "nothing (left)": then ask the long way.
        query = _listing_statement(where.sort, where.descending, bool(where.policy_number), bool(where.doc_type))
        rows = self.read(query, {"customer_id": where.customer_id, "policy_number": where.policy_number,
                                 "doc_type": where.doc_type, "now": now, "limit": limit, "offset": offset})
        if not rows:
            return super().listing(where, limit, offset, now)
        width = len(model.DocumentRow._fields)
        return Listing(False, [model.DocumentRow(*row[:width]) for row in rows], rows[0][width],
                       int(rows[0][width + 1]))

    def counts(self, where, now):
        D = model.Document
        unread = func.count().filter(D.read_at.is_(None), D.available_until > now)
        total, unread = self.session.execute(self._filtered(select(func.count(), unread).select_from(D), where)).one()
        return total, unread

    def expired(self, now, limit):
        D = model.Document
        query = select(D).where(D.available_until <= now).order_by(D.available_until).limit(limit)
        return list(self.session.scalars(query))

    def reminder_candidates(self, now, until, limit):
        D = model.Document
        query = (select(D).where(D.read_at.is_(None), D.reminder_sent_at.is_(None), D.available_until > now,
                                 D.available_until <= until).order_by(D.available_until).limit(limit))
        return list(self.session.scalars(query))

    def of_customer(self, customer_id):
        D = model.Document
        query = select(D).where(D.customer_id == customer_id).order_by(D.uploaded_at.desc(), D.document_id)
        return list(self.session.scalars(query))

    def get_policy_owner(self, policy_number):
        return self.session.get(model.PolicyOwner, policy_number)

    def add_policy_owner(self, owner):
        self.session.add(owner)

    def get_customer(self, customer_id):
        return self.session.get(model.Customer, customer_id)

    def add_customer(self, customer):
        self.session.add(customer)


@functools.lru_cache(maxsize=32)
def _listing_statement(sort: str, descending: bool, by_policy: bool, by_type: bool):
    """The list query for one shape of filters, built once (building a statement costs more than running it);
    the values are bound parameters."""
    t = orm.documents
    key = {"type": t.c.doc_type, "policy": t.c.policy_number}.get(sort)
    first = [] if key is None else [key.desc() if descending else key.asc()]
    newest = t.c.uploaded_at.asc() if (key is None and not descending) else t.c.uploaded_at.desc()
    unread = case((and_(t.c.read_at.is_(None), t.c.available_until > bindparam("now")), 1), else_=0)
    closed = exists().where(orm.customers.c.customer_id == bindparam("customer_id"),
                            orm.customers.c.status == model.CLOSED)
    query = (select(*[t.c[name] for name in model.DocumentRow._fields], func.count().over(), func.sum(unread).over())
             .where(t.c.customer_id == bindparam("customer_id"), ~closed)
             .order_by(*first, newest, t.c.document_id).limit(bindparam("limit")).offset(bindparam("offset")))
    if by_policy:
        query = query.where(t.c.policy_number == bindparam("policy_number"))
    if by_type:
        query = query.where(t.c.doc_type == bindparam("doc_type"))
    return query


class FakeRepository(AbstractRepository):
    def __init__(self, documents=(), owners=(), customers=()):
        super().__init__()
        self.documents = {d.document_id: d for d in documents}
        self.owners = {o.policy_number: o for o in owners}
        self.customers = {c.customer_id: c for c in customers}

    def _get(self, document_id):
        return self.documents.get(document_id)

    def _add(self, doc):
        self.documents[doc.document_id] = doc

    def delete(self, doc):
        self.documents.pop(doc.document_id, None)

    def _matching(self, where):
        return [d for d in self.documents.values() if d.customer_id == where.customer_id
                and (not where.policy_number or d.policy_number == where.policy_number)
                and (not where.doc_type or d.doc_type == where.doc_type)]

    def list(self, where, limit, offset=0):
        docs = sorted(self._matching(where), key=lambda d: d.document_id)
        if where.sort == "date":
            docs.sort(key=lambda d: d.uploaded_at, reverse=where.descending)
        else:
            docs.sort(key=lambda d: d.uploaded_at, reverse=True)
            attr = "doc_type" if where.sort == "type" else "policy_number"
            docs.sort(key=lambda d: getattr(d, attr), reverse=where.descending)  # stable: ties stay newest first
        return docs[offset:offset + limit]

    def counts(self, where, now):
        matching = self._matching(where)
        return len(matching), sum(1 for d in matching if not d.read and not d.expired(now))

    def expired(self, now, limit):
        return sorted((d for d in self.documents.values() if d.expired(now)), key=lambda d: d.available_until)[:limit]

    def reminder_candidates(self, now, until, limit):
        found = [d for d in self.documents.values() if d.read_at is None and d.reminder_sent_at is None
                 and now < d.available_until <= until]
        return sorted(found, key=lambda d: d.available_until)[:limit]

    def of_customer(self, customer_id):
        return sorted((d for d in self.documents.values() if d.customer_id == customer_id),
                      key=lambda d: (-d.uploaded_at.timestamp(), d.document_id))

    def get_policy_owner(self, policy_number):
        return self.owners.get(policy_number)

    def add_policy_owner(self, owner):
        self.owners[owner.policy_number] = owner

    def get_customer(self, customer_id):
        return self.customers.get(customer_id)

    def add_customer(self, customer):
        self.customers[customer.customer_id] = customer
