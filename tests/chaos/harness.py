"""The whole-system fault run (issue 7, "The proof"): ``make chaos`` (10,000 events, every fault) and, smaller,
``tests/chaos/test_chaos.py`` (1,000 events, one broker cut) in ``make test``.

The portal's four real worker processes run on real RabbitMQ and PostgreSQL, a local S3 (moto server) and an SMTP
server (aiosmtpd) started here. This script plays the insurer's core system: it declares customers
(``customer.declared``, so every document is announced by e-mail), then pushes the event stream —
``policy.upserted``, ``document.uploaded`` with real objects in the inbox, 5% exact duplicates (same message id),
5% re-sent documents (same ``document_id``, new message id) and 1% poison messages of every kind — while it injects
the faults:

- the broker goes away: a TCP proxy of ours stands between the portal and RabbitMQ and is cut (the machine's
  RabbitMQ is shared: it is never restarted);
- every worker is SIGKILLed once (and started again, as a supervisor would);
- every PostgreSQL connection of the portal's databases is terminated (``pg_terminate_backend``);
- S3 is unreachable for 30 s (its proxy cut; moto keeps its objects in memory, so it is not stopped);
- the SMTP server is stopped for 60 s.

Then it waits until everything is drained and prints the table: sent, applied, duplicates absorbed, dead-lettered by
reason, e-mails sent, lost, doubled, poison accounted for, unpublished outbox rows, time to drain after the last
fault. ``python tests/chaos/harness.py --events 10000`` (``--json FILE`` also writes the figures).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy as email_policy
from pathlib import Path

import amqp
import boto3
import requests
from botocore.config import Config
from sqlalchemy import create_engine, text

from portal_common import testing
from portal_common.bus import connect, declare_topology, delete_topology, load_topology
from portal_common.deadletters import open_queue

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "policies", "documents", "notify")
INBOX = "portal-inbox"
DOCUMENT_SUBJECT = re.compile(r"dokumentum: Chaos ([0-9a-f]{32})")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


Proxy = _load("chaos_proxy", ROOT / "tests" / "integration" / "_proxy.py").Proxy


def log(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)


# ------------------------------------------------------------------------------------------------------------ the mail
class MailSink:
    """aiosmtpd handler: keeps (Message-ID, To, Subject) of every message accepted."""

    def __init__(self):
        self.messages: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        msg = message_from_bytes(envelope.content, policy=email_policy.default)
        with self.lock:
            self.messages.append((str(msg["Message-ID"]), str(msg["To"]), str(msg["Subject"])))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[tuple[str, str, str]]:
        with self.lock:
            return list(self.messages)


class Smtp:
    def __init__(self, port: int):
        self.port, self.sink, self.controller = port, MailSink(), None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# ------------------------------------------------------------------------------------------------------- the workers
class Worker:
    def __init__(self, service: str, env: dict, run_dir: Path):
        self.service, self.env, self.run_dir = service, env, run_dir
        self.health_port = int(env["PORTAL_HEALTH_PORT"])
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        out = open(self.run_dir / f"{self.service}-worker.{self.starts}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", f"{self.service}.entrypoints.worker"], env=self.env,
                                     cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def ready(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


# --------------------------------------------------------------------------------------------------------- the stream
@dataclass
class Outgoing:
    routing_key: str
    body: bytes
    message_id: str
    headers: dict
    content_type: str = "application/json"
    kind: str = "event"          # event | duplicate | resend | poison | setup
    poison: str | None = None    # which kind of poison
    document_id: str | None = None
    obj: tuple[str, bytes] | None = None  # (inbox key, bytes) to upload first


@dataclass
class Plan:
    customers: int
    setup: list[Outgoing] = field(default_factory=list)
    stream: list[Outgoing] = field(default_factory=list)
    documents: set[str] = field(default_factory=set)          # document ids that must be stored and announced
    poison: dict[str, str] = field(default_factory=dict)      # message id -> poison kind


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _headers(event: str, message_id: str) -> dict:
    return {"event": event, "version": 1, "occurred_at": _now().isoformat(), "correlation_id": message_id}


def _event(event: str, payload: dict, kind: str = "event", **extra) -> Outgoing:
    message_id = str(uuid.uuid4())
    return Outgoing(event, json.dumps(payload, ensure_ascii=False).encode(), message_id, _headers(event, message_id),
                    kind=kind, **extra)


def _policy(i: int) -> dict:
    return {"policy_number": f"CHAOS-{i:06d}", "product": "kgfb", "status": "active", "payment_method": "cheque",
            "premium": {"amount": 48600, "frequency": "quarterly"}, "start_date": "2024-03-01",
            "policyholder": {"customer_id": f"CC-{i:06d}", "name": "Minta Anna", "birth_name": "Példa Anna",
                             "birth_date": "1985-07-14", "birth_place": "Debrecen", "mother_name": "Teszt Mária",
                             "email": f"c{i}@example.org", "mobile": "+36301234567"},
            "updated_at": _now().isoformat()}


def _pdf(rng: random.Random) -> bytes:
    return b"%PDF-1.4\n% chaos\n" + rng.randbytes(700) + b"\n%%EOF\n"


def _document(rng: random.Random, customer: int, *, uploaded_at: datetime | None = None,
              break_sha: bool = False) -> tuple[dict, tuple[str, bytes]]:
    document_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
    data = _pdf(rng)
    key = f"inbox/{document_id}.pdf"
    sha = hashlib.sha256(data).hexdigest()
    payload = {"document_id": str(uuid.UUID(document_id)), "policy_number": f"CHAOS-{customer:06d}",
               "customer_id": f"CC-{customer:06d}", "doc_type": "premium_notice", "title": f"Chaos {document_id}",
               "uploaded_at": (uploaded_at or _now()).isoformat(), "bucket": INBOX, "key": key,
               "content_type": "application/pdf", "size": len(data),
               "sha256": hashlib.sha256(b"other").hexdigest() if break_sha else sha}
    return payload, (key, data)


POISON_KINDS = ("version_header", "unknown_event", "not_json", "too_deep", "too_large", "content_type", "schema",
                "sha256_mismatch", "expired_on_arrival", "policy_schema")


def _poison(kind: str, rng: random.Random, customers: int) -> Outgoing:
    customer = rng.randrange(customers)
    payload, obj = _document(rng, customer)
    if kind == "version_header":
        o = _event("document.uploaded", payload, obj=obj)
        o.headers["version"] = "v1"
    elif kind == "unknown_event":  # routed to notify by its account.* binding; no handler knows it
        o = _event("account.frobnicated", {"account_id": "x", "customer_id": f"CC-{customer:06d}"})
    elif kind == "not_json":
        o = _event("document.uploaded", payload)
        o.body = b"{'document_id': not json"
    elif kind == "too_deep":
        o = _event("document.uploaded", payload)
        o.body = b"[" * 50_000 + b"]" * 50_000
    elif kind == "too_large":
        o = _event("document.uploaded", {**payload, "title": "x" * (2 * 1024 * 1024)})
    elif kind == "content_type":
        o = _event("document.uploaded", payload, obj=obj)
        o.content_type = "text/plain"
    elif kind == "schema":
        o = _event("document.uploaded", {k: v for k, v in payload.items() if k != "sha256"}, obj=obj)
    elif kind == "sha256_mismatch":
        payload, obj = _document(rng, customer, break_sha=True)
        o = _event("document.uploaded", payload, obj=obj)
    elif kind == "expired_on_arrival":
        payload, obj = _document(rng, customer, uploaded_at=_now() - timedelta(days=430))
        o = _event("document.uploaded", payload, obj=obj)
    elif kind == "policy_schema":
        # Without its number (which every consumer reads) all three consumers dead-letter it.
        o = _event("policy.upserted", {k: v for k, v in _policy(customer).items()
                                       if k not in ("policy_number", "policyholder")})
    else:  # pragma: no cover
        raise ValueError(kind)
    o.kind, o.poison = "poison", kind
    return o


def make_plan(events: int, seed: int = 7) -> Plan:
    rng = random.Random(seed)
    customers = max(10, events // 20)
    plan = Plan(customers)
    for i in range(customers):
        plan.setup.append(_event("customer.declared", {
            "declaration_id": str(uuid.uuid4()), "customer_id": f"CC-{i:06d}", "policy_number": f"CHAOS-{i:06d}",
            "email": f"c{i}@example.org", "language": "hu", "text_version": "2026-11", "channel": "portal",
            "declared_at": _now().isoformat()}, kind="setup"))
    poison_n, dup_n, resend_n = events // 100, events * 5 // 100, events * 5 // 100
    doc_n = events - customers - poison_n - dup_n - resend_n
    policies = [_event("policy.upserted", _policy(i)) for i in range(customers)]
    docs = []
    for _ in range(doc_n):
        payload, obj = _document(rng, rng.randrange(customers))
        docs.append(_event("document.uploaded", payload, obj=obj, document_id=payload["document_id"]))
        plan.documents.add(payload["document_id"])
    # The policies lead (a few documents overtake them: those wait in the retry tiers for their policy).
    stream = policies[: customers // 2] + docs[:20] + policies[customers // 2:] + docs[20:]
    for _ in range(dup_n):  # the same delivery again, somewhere later
        original = rng.choice(docs)
        copy = Outgoing(**{**original.__dict__, "kind": "duplicate", "obj": None})
        stream.insert(rng.randrange(stream.index(original) + 1, len(stream) + 1), copy)
    for _ in range(resend_n):  # the same document announced again, as a new message (its object put again)
        original = rng.choice(docs)
        resend = Outgoing(**{**original.__dict__, "kind": "resend", "message_id": str(uuid.uuid4())})
        resend.headers = _headers(resend.routing_key, resend.message_id)
        stream.insert(rng.randrange(stream.index(original) + 1, len(stream) + 1), resend)
    for i in range(poison_n):
        o = _poison(POISON_KINDS[i % len(POISON_KINDS)], rng, customers)
        plan.poison[o.message_id] = o.poison
        stream.insert(rng.randrange(0, len(stream) + 1), o)
    plan.stream = stream
    return plan


def _topic_match(pattern: str, key: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", r"[^.]+").replace(r"\#", r".*") + "$"
    return re.match(regex, key) is not None


def expected_dead_letters(plan: Plan, topology) -> dict[str, set[str]]:
    """service -> message ids of poison that must end in its dead-letter queue (every bound service gets a copy)."""
    out: dict[str, set[str]] = defaultdict(set)
    for o in plan.stream:
        if o.kind != "poison":
            continue
        for service, sq in topology.services.items():
            if any(_topic_match(b, o.routing_key) for b in sq.bindings):
                out[service].add(o.message_id)
    return out


# ------------------------------------------------------------------------------------------------------------ the run
@dataclass
class Faults:
    broker_cuts: list[tuple[float, float]]     # (at s, for s) after the stream starts
    kill_workers_at: float | None = None
    terminate_db_at: float | None = None
    s3_cut: tuple[float, float] | None = None
    smtp_stop: tuple[float, float] | None = None

    @classmethod
    def full(cls) -> "Faults":
        return cls(broker_cuts=[(10, 20)], kill_workers_at=45, terminate_db_at=60, s3_cut=(75, 30),
                   smtp_stop=(90, 60))

    @classmethod
    def broker_only(cls) -> "Faults":
        return cls(broker_cuts=[(3, 10)])


class Run:
    def __init__(self, events: int, faults: Faults, run_dir: Path, drain_timeout: float):
        self.events, self.faults, self.run_dir, self.drain_timeout = events, faults, run_dir, drain_timeout
        self.amqp_url = testing.require_rabbitmq()
        testing.require_postgres()
        self.namespace = testing.bus_namespace()
        # Short retry tiers for a run of minutes (each run has its own namespace, so the tiers' TTLs are its own).
        os.environ["PORTAL_RETRY_DELAYS"] = "1,3,10,20"
        self.topology = load_topology(namespace=self.namespace)
        self.fault_log: list[tuple[float, str]] = []
        self.last_fault_end = 0.0
        self.t0 = 0.0

    def note(self, what: str) -> None:
        at = time.monotonic() - self.t0
        self.fault_log.append((at, what))
        log(f"t={at:6.1f}s {what}")

    # -- set-up
    def _env(self, databases: dict, broker_port: int, s3_port: int, smtp_port: int) -> dict:
        host, rest = self.amqp_url.split("@", 1)
        broker = f"{host}@127.0.0.1:{broker_port}/{rest.split('/', 1)[1] if '/' in rest else ''}"
        return {**os.environ, "PORTAL_AMQP_URL": broker, "PORTAL_BUS_NAMESPACE": self.namespace,
                **{f"PORTAL_{s.upper()}_DATABASE_URL": url for s, url in databases.items()},
                "PORTAL_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}", "PORTAL_S3_ACCESS_KEY_ID": "portal",
                "PORTAL_S3_SECRET_ACCESS_KEY": "portal-secret", "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "PORTAL_SMS_URL": f"http://127.0.0.1:{testing.free_port()}/sms", "PORTAL_VAR_DIR": str(self.run_dir),
                "PORTAL_NOTIFY_RETRY_BASE_S": "2", "PORTAL_NOTIFY_RETRY_MAX_S": "10",
                "PORTAL_NOTIFY_POLL_INTERVAL_S": "0.2", "PORTAL_RETRY_DELAYS": os.environ["PORTAL_RETRY_DELAYS"],
                "PORTAL_RETENTION_SWEEP_SECONDS": "3600", "PYTHONUNBUFFERED": "1"}

    def execute(self) -> dict:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise

        plan = make_plan(self.events)
        with contextlib.ExitStack() as stack:
            databases = {s: stack.enter_context(testing.temp_postgres_database(f"chaos_{s}")) for s in SERVICES}
            for s, url in databases.items():
                testing.migrate(ROOT / "services" / s / "alembic.ini", url)
            broker = Proxy("127.0.0.1", int(re.search(r":(\d+)", self.amqp_url.split("@", 1)[1]).group(1)))
            broker_port = broker.start()
            stack.callback(broker.stop)
            moto_port = testing.free_port()
            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
            moto.start()
            stack.callback(moto.stop)
            s3_proxy = Proxy("127.0.0.1", moto_port)
            s3_port = s3_proxy.start()
            stack.callback(s3_proxy.stop)
            smtp = Smtp(testing.free_port())
            smtp.start()
            stack.callback(smtp.stop)
            with connect(self.amqp_url) as conn:
                declare_topology(conn, self.topology)
            stack.callback(self._delete_topology)
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", aws_access_key_id="portal",
                              aws_secret_access_key="portal-secret", region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}))
            s3.create_bucket(Bucket=INBOX)
            env = self._env(databases, broker_port, s3_port, smtp.port)
            workers = [Worker(s, {**env, "PORTAL_HEALTH_PORT": str(testing.free_port())}, self.run_dir)
                       for s in SERVICES]
            for w in workers:
                w.start()
                stack.callback(w.stop)
            testing.wait_until(lambda: _all_ready(workers), 60, interval=0.5,
                               message=f"the workers to be ready (logs in {self.run_dir})")
            log(f"{len(workers)} workers ready; namespace {self.namespace}; logs in {self.run_dir}")

            publisher = _Publisher(self.amqp_url, self.topology.exchange)
            stack.callback(publisher.close)
            publisher.publish_all(plan.setup, s3)
            testing.wait_until(lambda: _count(databases["notify"], "SELECT count(*) FROM contacts "
                                              "WHERE declaration_email IS NOT NULL") == plan.customers,
                               120, interval=1, message="notify to know every customer's declaration")
            log(f"{plan.customers} customers declared; pushing {len(plan.stream)} events")

            self.t0 = time.monotonic()
            fault_thread = threading.Thread(target=self._inject, args=(broker, workers, databases, s3_proxy, smtp),
                                            daemon=True)
            fault_thread.start()
            publisher.publish_all(plan.stream, s3)
            published_at = time.monotonic() - self.t0
            log(f"stream published in {published_at:.1f}s")
            fault_thread.join()
            result = self._drain(plan, databases, smtp)
            result["published_in_s"] = round(published_at, 1)
            result["faults"] = [(round(at, 1), what) for at, what in self.fault_log]
            return result

    def _delete_topology(self) -> None:
        with connect(self.amqp_url) as conn:
            delete_topology(conn, self.topology)

    # -- faults
    def _at(self, seconds: float) -> None:
        delay = self.t0 + seconds - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _inject(self, broker, workers, databases, s3_proxy, smtp) -> None:
        f = self.faults
        schedule = [(at, "broker", length) for at, length in f.broker_cuts]
        if f.kill_workers_at is not None:
            schedule.append((f.kill_workers_at, "kill", 0))
        if f.terminate_db_at is not None:
            schedule.append((f.terminate_db_at, "db", 0))
        if f.s3_cut:
            schedule.append((f.s3_cut[0], "s3", f.s3_cut[1]))
        if f.smtp_stop:
            schedule.append((f.smtp_stop[0], "smtp", f.smtp_stop[1]))
        threads = []
        for at, what, length in sorted(schedule):
            self._at(at)
            t = threading.Thread(target=self._fault, args=(what, length, broker, workers, databases, s3_proxy,
                                                            smtp))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()

    def _fault(self, what, length, broker, workers, databases, s3_proxy, smtp) -> None:
        if what == "broker":
            self.note(f"broker unreachable (proxy cut) for {length}s")
            broker.stop()
            time.sleep(length)
            broker.start()
            self.note("broker reachable again")
        elif what == "kill":
            self.note("SIGKILL every worker")
            for w in workers:
                w.kill()
            time.sleep(1)
            for w in workers:
                w.start()
            self.note("workers started again")
        elif what == "db":
            names = [url.rsplit("/", 1)[1] for url in databases.values()]
            admin = create_engine(testing.require_postgres(), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                n = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                      "WHERE datname = ANY(:n) AND pid <> pg_backend_pid()"), {"n": names}).scalar()
            admin.dispose()
            self.note(f"terminated {n} PostgreSQL connections")
        elif what == "s3":
            self.note(f"S3 unreachable (proxy cut) for {length}s")
            s3_proxy.stop()
            time.sleep(length)
            s3_proxy.start()
            self.note("S3 reachable again")
        elif what == "smtp":
            self.note(f"SMTP server stopped for {length}s")
            smtp.stop()
            time.sleep(length)
            smtp.start()
            self.note("SMTP server started again")
        self.last_fault_end = max(self.last_fault_end, time.monotonic())

    # -- the verdict
    def _observe(self, plan: Plan, databases: dict, smtp: Smtp) -> dict:
        stored = set(_column(databases["documents"], "SELECT document_id FROM documents"))
        policies = _count(databases["policies"], "SELECT count(*) FROM policies")
        mails = smtp.sink.snapshot()
        per_document: dict[str, set[str]] = defaultdict(set)
        per_declaration: dict[str, set[str]] = defaultdict(set)
        for message_id, to, subject in mails:
            m = DOCUMENT_SUBJECT.search(subject)
            if m:
                per_document[str(uuid.UUID(m.group(1)))].add(message_id)
            else:
                per_declaration[to].add(message_id)
        dead: dict[str, list] = {}
        for service in SERVICES:
            q = open_queue(self.topology, service, self.amqp_url)
            try:
                dead[service] = list(q.browse())
            finally:
                q.close()
        unpublished = {s: _count(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
                       for s, url in databases.items()}
        queues = self._queue_depths()
        return dict(stored=stored, policies=policies, mails=mails, per_document=per_document,
                    per_declaration=per_declaration, dead=dead, unpublished=unpublished, queues=queues)

    def _queue_depths(self) -> int:
        total = 0
        with connect(self.amqp_url) as conn:
            ch = conn.channel()
            for sq in self.topology.services.values():
                for name in (sq.queue, *getattr(sq, "retry_queues", ())):
                    total += ch.queue_declare(name, passive=True)[1]
        return total

    def _drained(self, plan: Plan, seen: dict, expected_dead: dict) -> bool:
        return (plan.documents <= seen["stored"] and seen["policies"] >= plan.customers
                and set(seen["per_document"]) >= plan.documents
                and len(seen["per_declaration"]) >= plan.customers
                and all({d.message_id for d in seen["dead"][s]} >= ids for s, ids in expected_dead.items())
                and not any(seen["unpublished"].values()) and seen["queues"] == 0)

    def _drain(self, plan: Plan, databases: dict, smtp: Smtp) -> dict:
        expected_dead = expected_dead_letters(plan, self.topology)
        deadline = time.monotonic() + self.drain_timeout
        seen = self._observe(plan, databases, smtp)
        while not self._drained(plan, seen, expected_dead) and time.monotonic() < deadline:
            time.sleep(2)
            seen = self._observe(plan, databases, smtp)
        drained_at = time.monotonic()
        time.sleep(5)  # anything still on its way (a double, a late dead letter) shows now
        seen = self._observe(plan, databases, smtp)
        return self._verdict(plan, seen, expected_dead, drained=self._drained(plan, seen, expected_dead),
                             drain_s=drained_at - max(self.last_fault_end, self.t0))

    def _verdict(self, plan: Plan, seen: dict, expected_dead: dict, drained: bool, drain_s: float) -> dict:
        kinds = Counter(o.kind for o in plan.stream)
        doc_deliveries = sum(1 for o in plan.stream if o.routing_key == "document.uploaded" and o.kind != "poison")
        dead_ids = {s: [d.message_id for d in letters] for s, letters in seen["dead"].items()}
        reasons = Counter()
        for letters in seen["dead"].values():
            for d in letters:
                reasons[d.reason.split(":", 1)[0][:60]] += 1
        unexpected = {s: sorted(f"{d.message_id} ({d.event}, {d.reason}, attempts {d.attempts})" for d in letters
                                if d.message_id not in expected_dead.get(s, set()))
                      for s, letters in seen["dead"].items()}
        missing_dead = {s: sorted(ids - set(dead_ids.get(s, []))) for s, ids in expected_dead.items()}
        lost_docs = sorted(plan.documents - seen["stored"])
        lost_mails = sorted(plan.documents - set(seen["per_document"]))
        lost_declarations = plan.customers - len(seen["per_declaration"])
        doubled_mails = {k: len(v) for k, v in seen["per_document"].items() if len(v) > 1}
        doubled_declarations = {k: len(v) for k, v in seen["per_declaration"].items() if len(v) > 1}
        doubled_dead = {s: [i for i, n in Counter(ids).items() if n > 1] for s, ids in dead_ids.items()}
        smtp_repeats = len(seen["mails"]) - len({m for m, _, _ in seen["mails"]})
        return {
            "events": len(plan.stream), "setup_events": len(plan.setup), "customers": plan.customers,
            "sent": dict(kinds), "poison_by_kind": dict(Counter(plan.poison.values())),
            "applied": {"documents_stored": len(seen["stored"] & plan.documents), "policies_stored": seen["policies"]},
            "duplicates_absorbed": doc_deliveries - len(seen["stored"] & plan.documents),
            "dead_lettered": {s: len(ids) for s, ids in dead_ids.items()},
            "dead_lettered_by_reason": dict(reasons.most_common()),
            "emails": {"document": sum(len(v) for v in seen["per_document"].values()),
                       "declaration": sum(len(v) for v in seen["per_declaration"].values()),
                       "smtp_repeats_same_message_id": smtp_repeats},
            "lost": len(lost_docs) + len(lost_mails) + max(0, lost_declarations)
                    + max(0, plan.customers - seen["policies"]) + sum(len(v) for v in missing_dead.values()),
            "lost_detail": {"documents": lost_docs[:20], "document_emails": lost_mails[:20],
                            "declaration_emails": max(0, lost_declarations),
                            "poison_not_dead_lettered": {s: v[:20] for s, v in missing_dead.items() if v}},
            "doubled": len(doubled_mails) + len(doubled_declarations) + sum(len(v) for v in doubled_dead.values()),
            "doubled_detail": {"document_emails": doubled_mails, "declaration_emails": doubled_declarations,
                               "dead_letters": {s: v for s, v in doubled_dead.items() if v}},
            "unexpected_dead_letters": {s: v[:20] for s, v in unexpected.items() if v},
            "unpublished_outbox_rows": seen["unpublished"],
            "drained": drained,
            "time_to_drain_after_last_fault_s": round(drain_s, 1),
        }


class _Publisher:
    """The core system's side: raw AMQP with publisher confirms, straight to RabbitMQ (not through our proxy)."""

    def __init__(self, url: str, exchange: str):
        self.conn = connect(url)
        self.conn.connect()
        self.channel = self.conn.connection.channel()
        self.returned: list[str] = []
        self.channel.events["basic_return"].add(lambda exc, exchange, key, message: self.returned.append(key))
        self.exchange = exchange

    def publish_all(self, messages: list[Outgoing], s3) -> None:
        for o in messages:
            if o.obj is not None:
                s3.put_object(Bucket=INBOX, Key=o.obj[0], Body=o.obj[1], ContentType="application/pdf")
            self.channel.basic_publish_confirm(  # waits for this message's confirm
                amqp.Message(o.body, content_type=o.content_type, content_encoding="utf-8", delivery_mode=2,
                             message_id=o.message_id, application_headers=o.headers),
                exchange=self.exchange, routing_key=o.routing_key, mandatory=True, confirm_timeout=30)
        if self.returned:
            raise RuntimeError(f"unroutable: {sorted(set(self.returned))}")

    def close(self) -> None:
        self.conn.release()


def _all_ready(workers: list[Worker]) -> bool:
    for w in workers:
        if w.proc.poll() is not None:
            tail = (w.run_dir / f"{w.service}-worker.{w.starts}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the {w.service} worker exited with {w.proc.returncode}:\n{tail}")
    return all(w.ready() for w in workers)


def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _column(url: str, sql: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [str(v) for v in conn.execute(text(sql)).scalars()]
    finally:
        engine.dispose()


def table(r: dict) -> str:
    rows = [
        ("events sent", f"{r['events']} ({', '.join(f'{k} {v}' for k, v in sorted(r['sent'].items()))}) "
                        f"+ {r['setup_events']} customer.declared first"),
        ("poison sent, by kind", ", ".join(f"{k} {v}" for k, v in sorted(r["poison_by_kind"].items()))),
        ("applied", f"{r['applied']['documents_stored']} documents stored, {r['applied']['policies_stored']} policies"),
        ("duplicates absorbed", f"{r['duplicates_absorbed']} document deliveries added nothing "
                                "(exact duplicates + re-sent documents)"),
        ("dead-lettered", ", ".join(f"{s} {n}" for s, n in r["dead_lettered"].items())),
        ("dead-lettered by reason", "; ".join(f"{k} {v}" for k, v in r["dead_lettered_by_reason"].items())),
        ("e-mails sent", f"{r['emails']['document']} document, {r['emails']['declaration']} declaration "
                         f"({r['emails']['smtp_repeats_same_message_id']} repeated with the same Message-ID)"),
        ("LOST", str(r["lost"])),
        ("DOUBLED", str(r["doubled"])),
        ("poison all in a DLQ, nothing else there", str(not r["lost_detail"]["poison_not_dead_lettered"]
                                                        and not r["unexpected_dead_letters"])),
        ("unpublished outbox rows", str(sum(r["unpublished_outbox_rows"].values()))),
        ("time to drain after the last fault", f"{r['time_to_drain_after_last_fault_s']} s"
                                               + ("" if r["drained"] else " (NOT DRAINED)")),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"| {k:<{width}} | {v} |" for k, v in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--faults", choices=("full", "broker"), default="full")
    parser.add_argument("--drain-timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="portal-chaos-"))
    faults = Faults.full() if args.faults == "full" else Faults.broker_only()
    result = Run(args.events, faults, run_dir, args.drain_timeout).execute()
    print(table(result), flush=True)
    print("faults:", "; ".join(f"t={at}s {what}" for at, what in result["faults"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    ok = result["drained"] and result["lost"] == 0 and result["doubled"] == 0 and not result["unexpected_dead_letters"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
