"""Repository port and its adapters (SQLAlchemy for the service, in-memory for unit tests)."""
from __future__ import annotations

import abc
import threading
from datetime import datetime

from sqlalchemy import and_, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal_common.db import UTCDateTime

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
    def count_failed_login(self, account_id: str, now: datetime, threshold: int,
                           lock_until: datetime) -> tuple[int, datetime | None] | None:
        """Atomically add one failed attempt. An expired lock restarts the count at 1; reaching ``threshold`` sets
        ``locked_until``. Returns ``(failed_attempts, locked_until)`` after the update, or None when the account is
        locked right now (another attempt locked it first: this one does not count)."""

    @abc.abstractmethod
    def count_unknown_login_failure(self, username_key: str, now: datetime, threshold: int,
                                    lock_until: datetime) -> tuple[int, datetime | None] | None:
        """:meth:`count_failed_login` for a username without an active account, in one atomic upsert keyed by the
        normalised username. None when that name is locked right now."""

    @abc.abstractmethod
    def unknown_login_locked_until(self, username_key: str) -> datetime | None: ...

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
    def sessions_of(self, account_id: str) -> list[model.LoginSession]: ...

    @abc.abstractmethod
    def delete_sessions(self, account_id: str, keep: str | None = None) -> int: ...

    @abc.abstractmethod
    def delete_session(self, session_hash: str) -> None: ...

    # ------------------------------------------------------------------------------------------ declarations
    @abc.abstractmethod
    def add_declaration(self, declaration: model.Declaration) -> None: ...

    @abc.abstractmethod
    def latest_declaration(self, customer_id: str, for_update: bool = False) -> model.Declaration | None:
        """The active declaration, else the most recent withdrawn one. ``for_update`` locks it (a concurrent
        withdrawal waits, then sees it withdrawn: the event goes out once)."""

    # ------------------------------------------------------------------------------------------- throttling
    @abc.abstractmethod
    def add_identification_failure(self, client_key: str, at: datetime) -> None: ...

    @abc.abstractmethod
    def identification_failures_since(self, client_key: str, since: datetime) -> list[datetime]:
        """Times of the client's failed identifications after ``since``, oldest first."""

    @abc.abstractmethod
    def add_client_attempt(self, kind: str, client_key: str, at: datetime) -> None: ...

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
    def __init__(self, session: Session):
        self.session = session

    def add_account(self, account):
        self.session.add(account)

    def get_account(self, account_id, for_update=False):
        return self.session.get(model.Account, account_id, with_for_update=for_update or None,
                                populate_existing=for_update)

    def account_by_username(self, username_key, for_update=False):
        stmt = select(model.Account).where(model.Account.username_key == username_key)
        if for_update:
            # populate_existing: after waiting for the lock, read the row as the other transaction left it
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(stmt).first()

    def open_account_of(self, customer_id):
        return self.session.scalars(select(model.Account).where(
            model.Account.customer_id == customer_id, model.Account.status.not_in(model.FINISHED))).first()

    def accounts_by_email(self, email, status):
        return list(self.session.scalars(select(model.Account).where(
            model.Account.email == email, model.Account.status == status)))

    def count_failed_login(self, account_id, now, threshold, lock_until):
        # One UPDATE … RETURNING: PostgreSQL takes the row lock and re-checks the WHERE clause after a concurrent
        # update commits, so ten simultaneous wrong passwords count 1, 2, 3 (lock) and the rest see the lock.
        t = orm.accounts
        lock_expired = and_(t.c.locked_until.is_not(None), t.c.locked_until <= now)
        new_count = case((lock_expired, 1), else_=t.c.failed_attempts + 1)
        stmt = (
            update(t)
            .where(t.c.account_id == account_id, or_(t.c.locked_until.is_(None), t.c.locked_until <= now))
            .values(failed_attempts=new_count,
                    locked_until=case((new_count >= threshold, lock_until), else_=None))
            .returning(t.c.failed_attempts, t.c.locked_until)
            .execution_options(synchronize_session=False)
        )
        row = self.session.execute(stmt).first()
        account = self.session.get(model.Account, account_id)
        if account is not None:
            self.session.expire(account, ["failed_attempts", "locked_until"])
        if row is None:
            return None
        return row.failed_attempts, row.locked_until

    def count_unknown_login_failure(self, username_key, now, threshold, lock_until):
        # INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING: one statement, atomic on PostgreSQL (the conflicting
        # row is locked and the WHERE re-checked) and on SQLite (one writer at a time).
        t = orm.unknown_login_failures
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        at = bindparam("lock_until", lock_until, type_=UTCDateTime())
        lock_expired = and_(t.c.locked_until.is_not(None), t.c.locked_until <= now)
        new_count = case((lock_expired, 1), else_=t.c.failed_attempts + 1)
        stmt = insert(t).values(username_key=username_key, failed_attempts=1,
                                locked_until=lock_until if threshold <= 1 else None, last_failed_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.username_key],
            set_={"failed_attempts": new_count, "locked_until": case((new_count >= threshold, at), else_=None),
                  "last_failed_at": now},
            where=or_(t.c.locked_until.is_(None), t.c.locked_until <= now),
        ).returning(t.c.failed_attempts, t.c.locked_until)
        row = self.session.execute(stmt).first()
        if row is None:
            return None
        return row.failed_attempts, row.locked_until

    def unknown_login_locked_until(self, username_key):
        t = orm.unknown_login_failures
        return self.session.scalar(select(t.c.locked_until).where(t.c.username_key == username_key))

    def add_token(self, token):
        self.session.add(token)

    def get_token(self, token_hash, for_update=False):
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
        self.session.execute(delete(t).where(t.c.session_hash == session_hash)
                             .execution_options(synchronize_session=False))

    def add_declaration(self, declaration):
        self.session.add(declaration)

    def latest_declaration(self, customer_id, for_update=False):
        d = model.Declaration
        stmt = select(d).where(d.customer_id == customer_id).order_by(d.withdrawn_at.is_not(None),
                                                                      d.declared_at.desc()).limit(1)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(stmt).first()

    def add_identification_failure(self, client_key, at):
        self.session.execute(orm.identification_failures.insert().values(client_key=client_key, failed_at=at))

    def identification_failures_since(self, client_key, since):
        t = orm.identification_failures
        return list(self.session.scalars(select(t.c.failed_at).where(
            t.c.client_key == client_key, t.c.failed_at > since).order_by(t.c.failed_at)))

    def add_client_attempt(self, kind, client_key, at):
        self.session.execute(orm.client_attempts.insert().values(kind=kind, client_key=client_key, at=at))

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


class FakeRepository(AbstractRepository):
    """In memory. Shared between fake units of work (like one database), so state survives a commit."""

    def __init__(self):
        self.accounts: dict[str, model.Account] = {}
        self.tokens: dict[str, model.ActivationToken] = {}
        self.sessions: dict[str, model.LoginSession] = {}
        self.declarations: list[model.Declaration] = []
        self.failures: list[tuple[str, datetime]] = []
        self.unknown_failures: dict[str, tuple[int, datetime | None]] = {}
        self.client_attempts: list[tuple[str, str, datetime]] = []
        self.callback_requests: list[callbacks.CallbackRequest] = []
        self.contact_changes: list[model.ContactChange] = []
        self._lock = threading.Lock()

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

    def count_failed_login(self, account_id, now, threshold, lock_until):
        with self._lock:
            a = self.accounts[account_id]
            if a.locked_until is not None and a.locked_until > now:
                return None
            a.failed_attempts = 1 if a.locked_until is not None else a.failed_attempts + 1
            a.locked_until = lock_until if a.failed_attempts >= threshold else None
            return a.failed_attempts, a.locked_until

    def count_unknown_login_failure(self, username_key, now, threshold, lock_until):
        with self._lock:
            count, locked_until = self.unknown_failures.get(username_key, (0, None))
            if locked_until is not None and locked_until > now:
                return None
            count = 1 if locked_until is not None else count + 1
            locked_until = lock_until if count >= threshold else None
            self.unknown_failures[username_key] = (count, locked_until)
            return count, locked_until

    def unknown_login_locked_until(self, username_key):
        return self.unknown_failures.get(username_key, (0, None))[1]

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

    def sessions_of(self, account_id):
        return [s for s in self.sessions.values() if s.account_id == account_id]

    def delete_sessions(self, account_id, keep=None):
        doomed = [h for h, s in self.sessions.items() if s.account_id == account_id and h != keep]
        for h in doomed:
            del self.sessions[h]
        return len(doomed)

    def delete_session(self, session_hash):
        self.sessions.pop(session_hash, None)

    def add_declaration(self, declaration):
        self.declarations.append(declaration)

    def latest_declaration(self, customer_id, for_update=False):
        mine = [d for d in self.declarations if d.customer_id == customer_id]
        mine.sort(key=lambda d: (d.withdrawn_at is not None, -d.declared_at.timestamp()))
        return mine[0] if mine else None

    def add_identification_failure(self, client_key, at):
        self.failures.append((client_key, at))

    def identification_failures_since(self, client_key, since):
        return sorted(at for key, at in self.failures if key == client_key and at > since)

    def add_client_attempt(self, kind, client_key, at):
        self.client_attempts.append((kind, client_key, at))

    def client_attempts_since(self, kind, client_key, since):
        return sorted(at for k, key, at in self.client_attempts if k == kind and key == client_key and at > since)

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
