"""Repository port and its adapters (SQLAlchemy for the service, in-memory for unit tests)."""
from __future__ import annotations

import abc
import hashlib
from datetime import datetime

from sqlalchemy import bindparam, delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..domain import callbacks, model
from . import orm


class AbstractRepository(abc.ABC):
    # ---------------------------------------------------------------------------------------------- accounts
    @abc.abstractmethod
    def add_account(self, account: model.Account) -> None: ...

    @abc.abstractmethod
    def get_account(self, account_id: str, for_update: bool = False) -> model.Account | None:
        """``for_update`` locks the row until the transaction ends."""

    @abc.abstractmethod
    def account_by_username(self, username_key: str, for_update: bool = False) -> model.Account | None:
        """``for_update`` locks the row until the transaction ends (a concurrent login waits, then sees what this one
        changed: a one-time password logs in once)."""

    @abc.abstractmethod
    def open_account_of(self, customer_id: str) -> model.Account | None:
        """The customer's account that is neither closed nor expired (pending or active), if any."""

    @abc.abstractmethod
    def accounts_by_email(self, email: str, status: str) -> list[model.Account]: ...

    @abc.abstractmethod
    def unknown_login(self, name_hash: str, now: datetime) -> model.UnknownLogin:
        """The failed-login count of a username without an active account (created at 0 when there is none),
        locked until the transaction ends like ``account_by_username(for_update=True)``: the rule
        (:class:`~identity.domain.model.LoginLockout`) then counts concurrent attempts one after the other."""

    # -------------------------------------------------------------------------------------- activation tokens
    @abc.abstractmethod
    def add_token(self, token: model.ActivationToken) -> None: ...

    @abc.abstractmethod
    def get_token(self, token_hash: str, for_update: bool = False) -> model.ActivationToken | None:
        """``for_update`` locks the row until the transaction ends (a second request waits, then sees it used)."""

    @abc.abstractmethod
    def tokens_of(self, account_id: str) -> list[model.ActivationToken]: ...

    @abc.abstractmethod
    def revoke_tokens(self, account_id: str, now: datetime) -> None:
        """Supersede every unused token of the account (a resent link makes the older ones invalid)."""

    # ---------------------------------------------------------------------------------------------- sessions
    @abc.abstractmethod
    def add_session(self, session: model.LoginSession) -> None: ...

    @abc.abstractmethod
    def get_session(self, session_hash: str) -> model.LoginSession | None: ...

    @abc.abstractmethod
    def check_session(self, session_hash: str) -> model.SessionCheck | None:
        """The session with its account and whether the customer has an active declaration (one read, no lock)."""

    @abc.abstractmethod
    def slide_session(self, session_hash: str, now: datetime) -> None:
        """Set the session's ``last_seen_at`` to ``now``."""

    @abc.abstractmethod
    def sessions_of(self, account_id: str) -> list[model.LoginSession]: ...

    @abc.abstractmethod
    def delete_sessions(self, account_id: str, keep: str | None = None) -> int: ...

    @abc.abstractmethod
    def delete_session(self, session_hash: str) -> str | None:
        """Delete one session; returns its ``account_id``, or None when there was no such session (any more)."""

    # ------------------------------------------------------------------------------------------ declarations
    @abc.abstractmethod
    def add_declaration(self, declaration: model.Declaration) -> None: ...

    @abc.abstractmethod
    def latest_declaration(self, customer_id: str, for_update: bool = False) -> model.Declaration | None:
        """The active declaration, else the most recent withdrawn one. ``for_update`` locks it (a concurrent
        withdrawal waits, then sees it withdrawn: the event goes out once)."""

    # ------------------------------------------------------------------------------------------- throttling
    @abc.abstractmethod
    def lock_client(self, kind: str, client_key: str) -> None:
        """Until the transaction ends, another transaction locking the same ``(kind, client_key)`` waits: count and
        record an attempt as one step (40 parallel requests never pass more than the limit)."""

    def relax_durability(self) -> None:
        """This transaction's commit need not wait for the disk (PostgreSQL ``synchronous_commit = off``): a crash
        may forget its last fraction of a second, never make it half-done. For per-client attempt rows only."""

    @abc.abstractmethod
    def add_client_attempt(self, kind: str, client_key: str, at: datetime) -> int:
        """Record an attempt; returns its id (an attempt that turns out not to count is given back)."""

    @abc.abstractmethod
    def remove_client_attempt(self, attempt_id: int) -> None: ...

    @abc.abstractmethod
    def client_attempts_since(self, kind: str, client_key: str, since: datetime) -> list[datetime]:
        """Times of the client's attempts of this kind after ``since``, oldest first."""

    # ------------------------------------------------------------------------------- callbacks, contact changes
    @abc.abstractmethod
    def add_callback_request(self, request: callbacks.CallbackRequest) -> None: ...

    @abc.abstractmethod
    def callback_request_by_key(self, idempotency_key: str) -> callbacks.CallbackRequest | None: ...

    @abc.abstractmethod
    def add_contact_change(self, change: model.ContactChange) -> None: ...

    @abc.abstractmethod
    def contact_change_by_hash(self, secret_hash: str, for_update: bool = False) -> model.ContactChange | None: ...

    @abc.abstractmethod
    def pending_contact_changes(self, account_id: str, kind: str, now: datetime,
                                for_update: bool = False) -> list[model.ContactChange]:
        """Unconfirmed, unrevoked, unexpired changes of this kind, newest first."""


class SqlAlchemyRepository(AbstractRepository):
    def __init__(self, session: Session, read=None):
        self.session = session
        self._dialect = session.get_bind().dialect.name
        #: runs one read-only Core statement -> rows (the unit of work's ``read``: outside the ORM Session)
        self.read = read or (lambda statement, params=None: session.execute(statement, params).all())

    def _write_lock(self) -> None:
        """SQLite has no row locks and ignores FOR UPDATE; its one writer at a time is the lock. A write that changes
        nothing starts the write transaction now, so what this transaction reads next stays true until it ends."""
        if self._dialect == "sqlite":
            self.session.execute(text("UPDATE client_attempts SET id = id WHERE 1 = 0"))

    def add_account(self, account):
        self.session.add(account)

    def get_account(self, account_id, for_update=False):
        if for_update:
            self._write_lock()
        return self.session.get(model.Account, account_id, with_for_update=for_update or None,
                                populate_existing=for_update)

    def account_by_username(self, username_key, for_update=False):
        stmt = select(model.Account).where(model.Account.username_key == username_key)
        if for_update:
            self._write_lock()
            # populate_existing: after waiting for the lock, read the row as the other transaction left it
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(stmt).first()

    def open_account_of(self, customer_id):
        return self.session.scalars(select(model.Account).where(
            model.Account.customer_id == customer_id, model.Account.status.not_in(model.FINISHED))).first()

    def accounts_by_email(self, email, status):
        return list(self.session.scalars(select(model.Account).where(
            model.Account.email == email, model.Account.status == status)))

    def unknown_login(self, name_hash, now):
        t = orm.unknown_login_failures
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        self.session.execute(insert(t).values(name_hash=name_hash, failed_attempts=0, last_failed_at=now)
                             .on_conflict_do_nothing(index_elements=[t.c.name_hash]))
        stmt = select(model.UnknownLogin).where(model.UnknownLogin.name_hash == name_hash)
        return self.session.scalars(stmt.with_for_update().execution_options(populate_existing=True)).one()

    def add_token(self, token):
        self.session.add(token)

    def get_token(self, token_hash, for_update=False):
        if for_update:
            self._write_lock()
        return self.session.get(model.ActivationToken, token_hash, with_for_update=for_update or None)

    def tokens_of(self, account_id):
        return list(self.session.scalars(select(model.ActivationToken).where(
            model.ActivationToken.account_id == account_id)))

    def revoke_tokens(self, account_id, now):
        t = orm.activation_tokens
        self.session.execute(update(t).where(t.c.account_id == account_id, t.c.used_at.is_(None),
                                             t.c.revoked_at.is_(None)).values(revoked_at=now)
                             .execution_options(synchronize_session=False))

    def add_session(self, session):
        self.session.add(session)

    def get_session(self, session_hash):
        return self.session.get(model.LoginSession, session_hash)

    def check_session(self, session_hash):
        # Core, not ORM objects: every page view asks this, and it only reads (a row tuple costs a fraction of an
        # identity-mapped Account). The statement is built once; SQLAlchemy caches its compiled form.
        rows = self.read(_CHECK_SESSION, {"session_hash": session_hash})
        return model.SessionCheck(*rows[0]) if rows else None

    def slide_session(self, session_hash, now):
        t = orm.login_sessions
        self.session.execute(update(t).where(t.c.session_hash == session_hash).values(last_seen_at=now)
                             .execution_options(synchronize_session=False))

    def sessions_of(self, account_id):
        return list(self.session.scalars(select(model.LoginSession).where(
            model.LoginSession.account_id == account_id)))

    def delete_sessions(self, account_id, keep=None):
        t = orm.login_sessions
        stmt = delete(t).where(t.c.account_id == account_id)
        if keep is not None:
            stmt = stmt.where(t.c.session_hash != keep)
        self.session.flush()
        return self.session.execute(stmt.execution_options(synchronize_session=False)).rowcount

    def delete_session(self, session_hash):
        t = orm.login_sessions
        self.session.flush()
        # RETURNING: of two transactions deleting the same row only the one that deleted it gets it back
        return self.session.execute(delete(t).where(t.c.session_hash == session_hash).returning(t.c.account_id)
                                    .execution_options(synchronize_session=False)).scalar()

    def add_declaration(self, declaration):
        self.session.add(declaration)

    def latest_declaration(self, customer_id, for_update=False):
        d = model.Declaration
        stmt = select(d).where(d.customer_id == customer_id).order_by(d.withdrawn_at.is_not(None),
                                                                      d.declared_at.desc()).limit(1)
        if for_update:
            self._write_lock()
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(stmt).first()

    def lock_client(self, kind, client_key):
        if self._dialect == "postgresql":
            # A transaction-scoped advisory lock on the (kind, client) pair: no row has to exist yet.
            digest = hashlib.sha256(f"{kind}\0{client_key}".encode()).digest()
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": int.from_bytes(digest[:8], "big", signed=True)})
        else:
            self._write_lock()

    def relax_durability(self):
        if self._dialect == "postgresql":
            self.session.execute(text("SET LOCAL synchronous_commit TO OFF"))

    def add_client_attempt(self, kind, client_key, at):
        return self.session.execute(orm.client_attempts.insert().values(kind=kind, client_key=client_key, at=at)
                                    .returning(orm.client_attempts.c.id)).scalar_one()

    def remove_client_attempt(self, attempt_id):
        t = orm.client_attempts
        self.session.execute(delete(t).where(t.c.id == attempt_id))

    def client_attempts_since(self, kind, client_key, since):
        t = orm.client_attempts
        return list(self.session.scalars(select(t.c.at).where(
            t.c.kind == kind, t.c.client_key == client_key, t.c.at > since).order_by(t.c.at)))

    def add_callback_request(self, request):
        self.session.add(request)

    def callback_request_by_key(self, idempotency_key):
        return self.session.scalars(select(callbacks.CallbackRequest).where(
            orm.callback_requests.c.idempotency_key == idempotency_key)).first()

    def add_contact_change(self, change):
        self.session.add(change)

    def contact_change_by_hash(self, secret_hash, for_update=False):
        query = select(model.ContactChange).where(orm.contact_changes.c.secret_hash == secret_hash)
        return self.session.scalars(query.with_for_update() if for_update else query).first()

    def pending_contact_changes(self, account_id, kind, now, for_update=False):
        t = orm.contact_changes
        query = select(model.ContactChange).where(
            t.c.account_id == account_id, t.c.kind == kind, t.c.confirmed_at.is_(None), t.c.revoked_at.is_(None),
            t.c.expires_at > now).order_by(t.c.created_at.desc())
        return list(self.session.scalars(query.with_for_update() if for_update else query))


def _check_session_statement():
    s, a, d = orm.login_sessions, orm.accounts, orm.declarations
    declared = exists().where(d.c.customer_id == a.c.customer_id, d.c.withdrawn_at.is_(None))
    return (select(s.c.session_hash, s.c.last_seen_at, a.c.account_id, a.c.customer_id, a.c.username,
                   func.coalesce(a.c.must_change_password, False), a.c.status, declared)
            .select_from(s.outerjoin(a, a.c.account_id == s.c.account_id))
            .where(s.c.session_hash == bindparam("session_hash")))


_CHECK_SESSION = _check_session_statement()


class FakeRepository(AbstractRepository):
    """In memory. Shared between fake units of work (like one database), so state survives a commit."""

    def __init__(self):
        self.accounts: dict[str, model.Account] = {}
        self.tokens: dict[str, model.ActivationToken] = {}
        self.sessions: dict[str, model.LoginSession] = {}
        self.declarations: list[model.Declaration] = []
        self.unknown_logins: dict[str, model.UnknownLogin] = {}
        self.client_attempts: dict[int, tuple[str, str, datetime]] = {}
        self.callback_requests: list[callbacks.CallbackRequest] = []
        self.contact_changes: list[model.ContactChange] = []

    def add_account(self, account):
        self.accounts[account.account_id] = account

    def get_account(self, account_id, for_update=False):
        return self.accounts.get(account_id)

    def account_by_username(self, username_key, for_update=False):
        return next((a for a in self.accounts.values() if a.username_key == username_key), None)

    def open_account_of(self, customer_id):
        return next((a for a in self.accounts.values()
                     if a.customer_id == customer_id and a.status not in model.FINISHED), None)

    def accounts_by_email(self, email, status):
        return [a for a in self.accounts.values() if a.email == email and a.status == status]

    def unknown_login(self, name_hash, now):
        return self.unknown_logins.setdefault(name_hash, model.UnknownLogin(name_hash, last_failed_at=now))

    def add_token(self, token):
        self.tokens[token.token_hash] = token

    def get_token(self, token_hash, for_update=False):
        return self.tokens.get(token_hash)

    def tokens_of(self, account_id):
        return [t for t in self.tokens.values() if t.account_id == account_id]

    def revoke_tokens(self, account_id, now):
        for t in self.tokens.values():
            if t.account_id == account_id and t.used_at is None and t.revoked_at is None:
                t.revoked_at = now

    def add_session(self, session):
        self.sessions[session.session_hash] = session

    def get_session(self, session_hash):
        return self.sessions.get(session_hash)

    def check_session(self, session_hash):
        session = self.sessions.get(session_hash)
        if session is None:
            return None
        account = self.accounts.get(session.account_id)
        declared = account is not None and any(d.customer_id == account.customer_id and d.active
                                               for d in self.declarations)
        return model.SessionCheck(
            session.session_hash, session.last_seen_at, account and account.account_id,
            account and account.customer_id, account and account.username,
            bool(account and account.must_change_password), account and account.status, declared)

    def slide_session(self, session_hash, now):
        self.sessions[session_hash].last_seen_at = now

    def sessions_of(self, account_id):
        return [s for s in self.sessions.values() if s.account_id == account_id]

    def delete_sessions(self, account_id, keep=None):
        doomed = [h for h, s in self.sessions.items() if s.account_id == account_id and h != keep]
        for h in doomed:
            del self.sessions[h]
        return len(doomed)

    def delete_session(self, session_hash):
        gone = self.sessions.pop(session_hash, None)
        return gone and gone.account_id

    def add_declaration(self, declaration):
        self.declarations.append(declaration)

    def latest_declaration(self, customer_id, for_update=False):
        mine = [d for d in self.declarations if d.customer_id == customer_id]
        mine.sort(key=lambda d: (d.withdrawn_at is not None, -d.declared_at.timestamp()))
        return mine[0] if mine else None

    def lock_client(self, kind, client_key):
        pass  # one thread at a time in unit tests; the concurrency tests run on PostgreSQL

    def add_client_attempt(self, kind, client_key, at):
        attempt_id = len(self.client_attempts) + 1
        self.client_attempts[attempt_id] = (kind, client_key, at)
        return attempt_id

    def remove_client_attempt(self, attempt_id):
        self.client_attempts.pop(attempt_id, None)

    def client_attempts_since(self, kind, client_key, since):
        return sorted(at for k, key, at in self.client_attempts.values()
                      if k == kind and key == client_key and at > since)

    def add_callback_request(self, request):
        if self.callback_request_by_key(request.idempotency_key) is not None:
            raise AssertionError("duplicate idempotency key: the unique constraint would refuse it")
        self.callback_requests.append(request)

    def callback_request_by_key(self, idempotency_key):
        return next((r for r in self.callback_requests if r.idempotency_key == idempotency_key), None)

    def add_contact_change(self, change):
        self.contact_changes.append(change)

    def contact_change_by_hash(self, secret_hash, for_update=False):
        return next((c for c in self.contact_changes if c.secret_hash == secret_hash), None)

    def pending_contact_changes(self, account_id, kind, now, for_update=False):
        found = [c for c in self.contact_changes if c.account_id == account_id and c.kind == kind
                 and c.confirmed_at is None and c.revoked_at is None and c.expires_at > now]
        return sorted(found, key=lambda c: c.created_at, reverse=True)
