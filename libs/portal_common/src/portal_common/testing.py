"""Test helpers shared by the services' and the cross-service suites.

Under ``CI=true`` a test that needs RabbitMQ or PostgreSQL *fails* when the server is missing; elsewhere it skips,
so a laptop without them still runs the unit tests.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlparse

AMQP_URL = os.environ.get("PORTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def caller_headers(caller: str = "gateway") -> dict[str, str]:
    """``X-Service-Token`` of a caller with its development token (what the gateway or identity would send)."""
    from .callers import DEV_TOKENS
    return {"X-Service-Token": DEV_TOKENS[caller]}


def unsealed(event: dict, field: str) -> str:
    """A secret of an identity event as notify would open it: ``unsealed(event, "activation_url")`` reads
    ``event["activation_url_sealed"]`` with this process's ``PORTAL_SEALING_KEYS`` (the dev key in tests)."""
    from .sealing import default_sealer
    return default_sealer().open(event[f"{field}_sealed"], event["account_id"])


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(url: str) -> bool:
    """Whether something accepts TCP connections at the URL's host and port (within 2 s)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


def require(url: str, what: str) -> str:
    import pytest

    if reachable(url):
        return url
    message = f"{what} is not reachable at {urlparse(url).hostname}:{urlparse(url).port}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: broker and database tests must run; .ci/run starts them)")
    pytest.skip(message)


def require_rabbitmq() -> str:
    return require(AMQP_URL, "RabbitMQ")


def require_postgres() -> str:
    return require(POSTGRES_URL, "PostgreSQL")


@contextlib.contextmanager
def temp_postgres_database(prefix: str):
    """Create a throwaway database; yields its SQLAlchemy URL; drops it afterwards."""
    from sqlalchemy import create_engine, text

    base = require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextlib.contextmanager
def temp_postgres_tables(prefix: str, metadata):
    """A throwaway database with ``metadata``'s tables; yields its engine (disposed, the database dropped, after)."""
    from .db import make_engine

    with temp_postgres_database(prefix) as url:
        engine = make_engine(url)
        try:
            metadata.create_all(engine)
            yield engine
        finally:
            engine.dispose()


def migrate(alembic_ini: Path, database_url: str) -> None:
    """Run a service's Alembic migrations against ``database_url`` (in a subprocess, like production)."""
    alembic_ini = Path(alembic_ini).resolve()
    env = dict(os.environ, ALEMBIC_DATABASE_URL=database_url)
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(alembic_ini), "upgrade", "head"], env=env,
                          cwd=alembic_ini.parent, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"alembic upgrade failed for {alembic_ini}:\n{done.stderr}")


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel gave it to a socket bound to port 0) and that
    this process has not handed out before.

    The kernel may pick the port it picked for the previous call again once that socket is closed, so a test that
    takes several ports at once (a public, an operations and a dead port) could get one port twice; nothing stops
    another process from taking the port before the caller binds it, though."""
    with _handed_out_lock:
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port that this process has not handed out yet (it has {len(_handed_out)})")


@contextlib.contextmanager
def wsgi_servers():
    """Serve WSGI apps (a stub of another service, or a real service's Flask app) over real HTTP on free local
    ports, each in a thread of its own. Yields ``start(app) -> base URL``; every server started is shut down at the
    end::

        @pytest.fixture
        def serve():
            with wsgi_servers() as start:
                yield start
    """
    from werkzeug.serving import make_server

    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()


def fresh_file_bus_memory(monkeypatch) -> None:
    """Give the calling test a file bus whose bindings are written to *its* ``PORTAL_VAR_DIR``, whatever ran before.

    kombu's virtual transports remember every binding declared in the process in one ``BrokerState``, a class
    attribute (``filesystem.Transport.global_state``), and a binding it remembers is not written again, so a fresh
    control folder declared after another file-bus test stays empty and every publish into it goes nowhere (the
    publisher reports it unroutable). The memory is swapped for an empty one, not cleared: the test's own bindings
    are forgotten when it ends (``monkeypatch`` puts the previous memory back), so no test sees another's.
    """
    from kombu.transport import filesystem, virtual

    monkeypatch.setattr(filesystem.Transport, "global_state", virtual.BrokerState())


def bus_namespace() -> str:
    return "t" + uuid.uuid4().hex[:8]


# A deadline is how long a test is willing to wait on a loaded machine, not how long the condition should take:
# it costs nothing when the condition holds early. CI shares 2 cores with the broker, the database and a browser,
# so every deadline is stretched (PORTAL_TEST_DEADLINE_FACTOR, default 3) and never shorter than a minute.
DEADLINE_FACTOR = float(os.environ.get("PORTAL_TEST_DEADLINE_FACTOR", "3"))
MIN_DEADLINE_S = 60.0


def deadline_for(timeout: float) -> float:
    return max(timeout * DEADLINE_FACTOR, MIN_DEADLINE_S)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Retry-until for end-to-end tests: returns the first truthy value of ``predicate()`` or fails.

    ``timeout`` is the nominal wait; the real deadline is :func:`deadline_for` it (generous on a busy machine)."""
    import time

    timeout = deadline_for(timeout)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last value: {last!r})")


class FakePublisher:
    """Stands in for :class:`portal_common.bus.Publisher` in unit tests (the outbox relay, a dead-letter sink).

    Set ``down = True`` to make the whole batch fail as a lost connection does (``PublishError``), or put
    ``{message_id: error}`` into ``errors`` to fail single messages as a nack or an unroutable return does.
    ``sent`` keeps every message the "broker" confirmed, in order.
    """

    def __init__(self):
        self.sent: list = []
        self.batches: list[list] = []
        self.errors: dict[str, str] = {}
        self.down = False
        self.closed = 0

    def publish_batch(self, messages) -> dict[str, str | None]:
        from .bus import PublishError

        messages = list(messages)
        if self.down:
            raise PublishError("ConnectionRefusedError: [Errno 111] Connection refused (fake broker down)")
        self.batches.append(messages)
        results = {m.message_id: self.errors.get(m.message_id) for m in messages}
        self.sent.extend(m for m in messages if results[m.message_id] is None)
        return results

    def close(self) -> None:
        self.closed += 1

    def payloads(self) -> list[dict]:
        return [json.loads(m.body) for m in self.sent]


def take_dead_letters(topology, service: str, expected: int, timeout: float = 10.0, url: str | None = None) -> list:
    """Take ``expected`` messages off ``service``'s dead-letter queue (acked, raw: no decoding) and return them;
    fails when fewer arrive within ``timeout``. ``url=None`` reads the embedded file bus."""
    import socket
    import time

    from kombu import Consumer

    from .bus import connect, is_amqp, service_queues

    found = []
    with connect(url) as conn:
        _queue, dead = service_queues(topology, service, is_amqp(conn))
        with Consumer(conn.channel(), queues=[dead], on_message=found.append, auto_declare=False):
            deadline = time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.1)
                except (socket.timeout, TimeoutError):
                    pass
        for message in found:
            message.ack()
    assert len(found) == expected, f"{len(found)} dead letters within {timeout}s, expected {expected}"
    return found


def apply_event(bus, session_factory, event: str, body: dict, *, message_id: str | None = None,
                headers: dict | None = None):
    """Apply one event as the worker does — the route's schema, its command, its handler, one transaction, then the
    after-commit work — without a broker. Returns what the handler returned."""
    import uuid

    from .messagebus import Message
    from .uow import AfterCommit

    message_id = message_id or str(uuid.uuid4())
    route = bus.events[event]
    occurred_at = (headers or {}).get("occurred_at")
    message = Message(message_id=message_id, event=event, version=route.versions[-1], correlation_id=message_id,
                      occurred_at=occurred_at, headers=dict(headers or {}))
    after = AfterCommit()
    with session_factory() as session, session.begin():
        result = bus.handle_event(message, route.load(body), session, after)
    after.run()
    return result


def plumbing_bus(handler, events, uow_bind=None, schema=None, locks=None, command=dict):
    """A :class:`~portal_common.messagebus.MessageBus` for plumbing tests and benchmarks: every event in ``events``
    loads a JSON object (any, or what ``schema`` reads) as a ``dict`` (or ``command(**fields)``) and goes to
    ``handler(fields, *, uow, message)``; ``uow.session`` is the consumer's session; ``locks(fields)`` names the rows
    it writes (Route.locks)."""
    from marshmallow import INCLUDE, Schema

    from .messagebus import MessageBus, Route
    from .uow import JoinedSession

    class AnyFields(Schema):
        class Meta:
            unknown = INCLUDE

    class SessionOnly(JoinedSession):
        def bind(self, session):
            if uow_bind is not None:
                uow_bind(self, session)

    return MessageBus({name: Route(schema or AnyFields, command, handler, locks=locks) for name in events},
                      uow=lambda: None, joined_uow=SessionOnly)


#: the ``occurred_at`` header of the consumer tests' messages (a fixed moment: nothing in them depends on the clock)
OCCURRED_AT = "2026-11-21T10:00:00+00:00"


def numbered_payload():
    """The marshmallow schema of the consumer tests' messages, ``{"n": 1, "action": "ok"}``: ``n`` is what the
    handler records, ``action`` (default ``ok``) picks how the test's handler behaves; other fields are ignored, as
    every consumer does."""
    from marshmallow import EXCLUDE, Schema, fields

    class NumberedPayload(Schema):
        class Meta:
            unknown = EXCLUDE

        n = fields.Integer(required=True)
        action = fields.String(load_default="ok")

    return NumberedPayload


def raw_message(event: str, body: bytes, /, *, content_type: str | None = None, **headers):
    """A message as a foreign publisher might send it — any body, any headers over the usual ones (even an
    ``event`` header that is not the routing key) — routed by ``event``."""
    from .bus import OutgoingMessage

    message_id = str(uuid.uuid4())
    headers = {"event": event, "version": 1, "occurred_at": OCCURRED_AT, "correlation_id": message_id, **headers}
    return OutgoingMessage(message_id, event, body, headers, content_type=content_type)


class AppliedLog:
    """Where a consumer test's handler records its effect: a SQLite file with the plumbing tables (outbox, processed
    messages) and ``applied(message_id, n)``. ``record(session, message_id, n)`` writes in the consumer's session,
    so the effect commits or rolls back with the message; ``applied()`` and ``processed()`` read what committed."""

    def __init__(self, path: Path):
        from sqlalchemy import Column, Integer, MetaData, String, Table

        from .db import make_engine, make_session_factory, plumbing_tables

        metadata = MetaData()
        self.table = Table("applied", metadata, Column("message_id", String(200)), Column("n", Integer))
        _outbox, self.processed_messages = plumbing_tables(metadata)
        self.engine = make_engine(f"sqlite:///{path}")
        metadata.create_all(self.engine)
        self.session_factory = make_session_factory(self.engine)

    def record(self, session, message_id: str, n: int) -> None:
        session.execute(self.table.insert().values(message_id=message_id, n=n))

    def applied(self, message_id: str | None = None) -> list[int]:
        """Every ``n`` recorded (of one message, with ``message_id``), smallest first."""
        from sqlalchemy import select

        query = select(self.table.c.n).order_by(self.table.c.n)
        if message_id is not None:
            query = query.where(self.table.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def processed(self) -> int:
        """How many message ids the consumer has marked as applied."""
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.processed_messages)).scalar_one()

    def dispose(self) -> None:
        self.engine.dispose()


# ------------------------------------------------------------------------------- concurrent batches on PostgreSQL
class OperatorLog:
    """Stands in for a module's structlog logger (``monkeypatch.setattr(consumer, "log", OperatorLog())``): the
    lines an operator would read, as ``(level, event, fields)``."""

    def __init__(self):
        self.lines: list[tuple[str, str, dict]] = []

    def __getattr__(self, level):
        return lambda event, **fields: self.lines.append((level, event, fields))

    def events(self, level: str) -> list[str]:
        return [event for lvl, event, _fields in self.lines if lvl == level]


def decoded_delivery(bus, event: str, fields: dict, *, occurred_at=OCCURRED_AT):
    """A delivery as the consumer holds it once decoded — its message (a new message id), the fields its route's
    schema loaded, its command and the rows it locks (``Route.locks``) — for a test that hands batches to a
    :class:`~portal_common.consumer.Worker` itself (:func:`apply_batches_at_once`)."""
    from .consumer import _Delivery
    from .messagebus import Message

    message_id = str(uuid.uuid4())
    message = Message(message_id, event, bus.events[event].versions[-1], message_id, occurred_at, {})
    return _Delivery(raw=None, message=message, fields=fields, locked=bus.locked(message, fields))


def waiting_for_a_lock(engine) -> bool:
    """Whether a transaction in ``engine``'s PostgreSQL database waits for a lock (a row's, an advisory one) now."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                 "WHERE NOT l.granted AND d.datname = current_database()")).scalar_one() > 0


class Crossing:
    """Makes the batches of :func:`apply_batches_at_once` cross: each batch's thread, the first time it calls
    :meth:`arrive` (right after its batch's first write), waits until every batch has arrived too — or until some
    transaction waits for a lock, when they can no longer cross (one already waits for the other). Two batches that
    write the same rows in opposite orders then deadlock unless the consumer orders them."""

    def __init__(self, engine, batches: int = 2):
        self.engine = engine
        self.batches = batches
        self.arrived: set[str] = set()
        self._guard = threading.Lock()

    def arrive(self) -> None:
        me = threading.current_thread().name
        with self._guard:
            if me in self.arrived:
                return
            self.arrived.add(me)
        wait_until(lambda: len(self.arrived) >= self.batches or waiting_for_a_lock(self.engine), timeout=60,
                   message="the other batches to write their first row or to wait for a lock")


def apply_batches_at_once(worker, batches: list[list], timeout: float = 120.0) -> None:
    """Apply ``batches`` (of :func:`decoded_delivery`) at once, each in a thread of its own, as a worker's
    appliers or two replicas do, through ``worker``'s batch loop (deadlocks and outages handled as in production);
    fails when one raised or has not finished within ``timeout`` seconds (then the worker is stopped, which ends a
    batch waiting for "the database")."""
    import time

    errors = []

    def apply(batch):
        try:
            worker._apply_until_the_database_answers(batch, None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=apply, args=(batch,), name=f"applier-{i}") for i, batch in enumerate(batches)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    worker.stop()
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), f"a batch was still being applied after {timeout}s"
