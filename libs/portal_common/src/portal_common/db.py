"""Database plumbing: engines, sessions and the two tables every service owns (outbox, processed messages).

Each service has its own database and its own Alembic migrations; the plumbing tables are defined here once and
created by each service's first migration via :func:`create_plumbing_tables`.
"""
from __future__ import annotations

import weakref
from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import registry, sessionmaker

from .config import ConfigError

# The drivers the portal installs: psycopg2 for PostgreSQL (portal_common depends on it), SQLite from the standard
# library. SQLAlchemy 2.x maps a plain ``postgresql://`` to psycopg 3, which is not installed, so a URL as people
# write it (and as managed databases hand it out) is pointed at psycopg2 explicitly.
_SCHEMES = {
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",  # Heroku-style alias
    "postgresql+psycopg2": "postgresql+psycopg2",
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
}


def engine_url(url: str) -> str:
    """The URL with the scheme of an installed driver; a clear error for any other scheme.

    >>> engine_url("postgresql://identity:pw@db:5432/identity")
    'postgresql+psycopg2://identity:pw@db:5432/identity'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError("a database URL must look like postgresql://user:password@host:5432/name or sqlite:///path")
    driver = _SCHEMES.get(scheme.lower())
    if driver is None:
        supported = "postgresql://, postgresql+psycopg2:// or sqlite:///"
        # Never echo the URL itself: it carries the password.
        raise ConfigError(f"unsupported database URL scheme {scheme!r}: use {supported} "
                          "(PostgreSQL is reached through psycopg2, the driver the portal installs)")
    return f"{driver}://{rest}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone; naive input is a bug)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def make_engine(url: str, **kwargs) -> Engine:
    # Statement parameters (password hashes, sealed secrets, e-mail addresses) never appear in exception text, and so
    # never in a log line or an error report (issue 8).
    kwargs.setdefault("hide_parameters", True)
    url = engine_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL lets the API and the worker process use the same file at once.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def read_engine(engine: Engine) -> Engine:
    """The engine for single read-only statements on ``engine``'s database (made once per engine; see :func:`read`).

    On PostgreSQL a second pool whose connections are in autocommit and are not pinged when lent: a read is then
    one round trip instead of four (ping, BEGIN, the statement, the ROLLBACK that returns it to the pool). What the
    ping protected against — a connection PostgreSQL closed (a restart, a failover) — :func:`read` handles by
    asking once more on a fresh connection. SQLite has neither cost: the engine itself."""
    found = _READ_ENGINES.get(engine)
    if found is None:
        found = engine
        if engine.dialect.name == "postgresql":
            sizes = {}
            if isinstance(engine.pool, QueuePool):  # the same bounds as the engine's own pool
                sizes = {"pool_size": engine.pool.size(), "max_overflow": engine.pool._max_overflow}
            found = create_engine(engine.url, hide_parameters=True, pool_pre_ping=False,
                                  isolation_level="AUTOCOMMIT", poolclass=type(engine.pool), **sizes)
            event.listen(engine, "engine_disposed", lambda _engine, reads=found: reads.dispose())
        _READ_ENGINES[engine] = found
    return found


_READ_ENGINES: "weakref.WeakKeyDictionary[Engine, Engine]" = weakref.WeakKeyDictionary()


def read(engine: Engine, statement, params: dict | None = None) -> list:
    """The rows of one read-only statement, from :func:`read_engine`'s pool, in a transaction of its own.

    A connection found dead (DBAPI error flagged as a disconnect: SQLAlchemy then invalidates it and every
    connection pooled before it) is replaced and the statement asked once more — a read has no effect to repeat."""
    pool = read_engine(engine)
    try:
        with pool.connect() as conn:
            return conn.execute(statement, params).all()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with pool.connect() as conn:
        return conn.execute(statement, params).all()


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def plumbing_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Define ``outbox`` and ``processed_messages`` on a service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        # A monotonically increasing key gives FIFO publishing per service.
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event", String(100), nullable=False),
        Column("version", Integer, nullable=False, default=1),
        Column("payload", Text, nullable=False),
        Column("secret_fields", Text, nullable=True),
        Column("correlation_id", String(64), nullable=True),
        Column("occurred_at", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime(), nullable=False),
        Column("last_error", Text, nullable=True),
        Index("ix_outbox_unpublished", "published_at", "next_attempt_at"),
        extend_existing=True,
    )
    processed = Table(
        "processed_messages",
        metadata,
        Column("message_id", String(200), primary_key=True),
        Column("event", String(100), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
        extend_existing=True,
    )
    return outbox, processed


def map_aggregate(mapper_registry: registry, cls: type, table: Table, **options) -> None:
    """Map an aggregate imperatively (the domain stays free of SQLAlchemy). Its ``events`` — what it raised, for the
    unit of work to write to the outbox — is no column; an instance loaded from the database skips ``__init__``, so
    it is given an empty list on load."""
    mapper_registry.map_imperatively(cls, table, exclude_properties={"events"}, **options)
    event.listen(cls, "load", _no_events_yet)


def _no_events_yet(target, _context) -> None:
    target.events = []


def create_plumbing_tables(op) -> None:
    """Alembic helper: call ``create_plumbing_tables(op)`` in a service's first migration."""
    metadata = MetaData()
    plumbing_tables(metadata)
    metadata.create_all(op.get_bind())


def drop_plumbing_tables(op) -> None:
    op.drop_table("processed_messages")
    op.drop_table("outbox")
