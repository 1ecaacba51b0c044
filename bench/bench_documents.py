#!/usr/bin/env python3
"""Document ingestion throughput (event -> stored -> e-mail queued) next to raw boto3 CopyObject on the same S3
server, in the same run.

``make bench-documents`` / ``.venv/bin/python bench/bench_documents.py [--count N] [--size-kb K] [--workers W]``

1. Starts moto's S3 server (``ThreadedMotoServer``) in a process of its own — or, with ``--s3-url``, uses an
   S3-compatible server that is already running (MinIO, Ceph RGW, AWS: buckets of the run's own, emptied and deleted
   at the end) — uses RabbitMQ when reachable (a fresh
   bus namespace) or else the embedded file bus, and two throwaway databases — documents and notify, each a PostgreSQL
   temp database (a SQLite file when PostgreSQL is not reachable) — and runs each service's migrations.
2. Starts the real notify worker (``python -m notify.entrypoints.worker``, e-mail to an aiosmtpd sink started here)
   and publishes ``customer.declared`` for each benchmark customer, so the document e-mails are real deliveries, not
   "skipped" (not timed; waits until notify has every declaration).
3. Publishes ``policy.upserted`` for the benchmark's policies and uploads N PDFs of K KB into the inbox bucket with
   ``ChecksumAlgorithm=SHA256``, as the core system is told to (not timed).
4. Starts the real documents worker process(es) (``python -m documents.entrypoints.worker``), publishes N
   ``document.uploaded`` and times until every document is stored *and* notify has recorded its e-mail: one
   ``document_available`` delivery (status pending or sent) per document — the e-mail is queued. A document that is
   dead-lettered instead does not hang the run: the clock stops when stored + dead-lettered = N (counted from the
   workers' ``portal_messages_dead_lettered_total``), and the dead-lettered ones are reported.
5. Times N raw ``CopyObject`` calls of K KB objects on the same S3 server from one boto3 client: half before the
   ingestion, half after it, so both sides of the ratio see the same machine load.
6. Prints both rates, the ratio (target >= 0.8, issue 9) and the CPU seconds each process used during both
   measurements (where the time goes).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from portal_common.testing import free_port, reachable
from procstat import cpu_seconds, pids_named, stop

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
POLICIES = 50
TARGET = 0.8  # issue 9 (the documents issue asked 0.7)


#: moto takes any key; another server takes these from the environment (``--s3-url``)
S3_CREDENTIALS = {"PORTAL_S3_ACCESS_KEY_ID": "portal", "PORTAL_S3_SECRET_ACCESS_KEY": "portal-secret",
                  "PORTAL_S3_REGION": "us-east-1"}


def s3_credentials() -> dict[str, str]:
    return {name: os.environ.get(name.replace("PORTAL_", "PORTAL_BENCH_"), default)
            for name, default in S3_CREDENTIALS.items()}


def s3_client(endpoint: str, credentials: dict[str, str]):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=credentials["PORTAL_S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=credentials["PORTAL_S3_SECRET_ACCESS_KEY"],
                        region_name=credentials["PORTAL_S3_REGION"],
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))


class Database:
    """A throwaway PostgreSQL database, or a SQLite file when PostgreSQL is not reachable; migrated."""

    def __init__(self, tmp: Path, service: str):
        from sqlalchemy import create_engine, text

        self._text = text
        base = os.environ.get("PORTAL_BENCH_POSTGRES_URL", DEFAULT_PG)
        self.admin = None
        if reachable(base):
            self.name = f"bench_{service}_{uuid.uuid4().hex[:8]}"
            self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = base.rsplit("/", 1)[0] + "/" + self.name
            self.kind = "PostgreSQL"
        else:
            self.url = f"sqlite:///{tmp / f'{service}.db'}"
            self.kind = "SQLite (PostgreSQL not reachable)"
        self.engine = create_engine(self.url)
        done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / f"services/{service}/alembic.ini"),
                               "upgrade", "head"], env=dict(os.environ, ALEMBIC_DATABASE_URL=self.url),
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{service} migrations failed:\n{done.stderr[-2000:]}")

    def scalar(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(self._text(sql)).scalar_one()

    def drop(self) -> None:
        self.engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.execute(self._text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": self.name})
                conn.execute(self._text(f'DROP DATABASE IF EXISTS "{self.name}"'))
            self.admin.dispose()


class SmtpSink:
    """Where notify's e-mails go, in a process of its own (its work must not compete with moto's S3 server for this
    process's GIL).

    - ``sink``: aiosmtpd's ``Sink`` handler accepts every message and keeps nothing; notify sends e-mails while the
      documents are being ingested, as the whole system would.
    - ``tarpit``: a socket that accepts TCP connections and never says a word, so each send waits for notify's SMTP
      timeout and is retried later (an unroutable server): the clock still stops when the e-mails are *queued*, but
      sending costs (almost) nothing during the run.
    """

    TARPIT = ("import socket, time\n"
              "s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(1024)\n"
              "while True: time.sleep(3600)\n")

    def __init__(self, kind: str, log_path: Path):
        self.kind = kind
        self.port = free_port()
        cmd = ([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{self.port}"]
               if kind == "sink" else [sys.executable, "-c", self.TARPIT.format(port=self.port)])
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: reachable(f"smtp://127.0.0.1:{self.port}"), 30, "the SMTP server")

    def stop(self) -> None:
        stop(self.proc)


class S3Server:
    """moto's S3 server (``ThreadedMotoServer``) in a process of its own: the raw baseline's boto3 client and this
    script's polling loop would otherwise share its interpreter (and GIL) and slow the server down for one side of
    the ratio and not the other. Both measurements talk to this same server."""

    SCRIPT = ("import logging, sys, threading\n"
              "from moto.server import ThreadedMotoServer\n"
              "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"  # it logs every request otherwise
              "ThreadedMotoServer(ip_address='127.0.0.1', port=int(sys.argv[1]), verbose=False).start()\n"
              "threading.Event().wait()\n")

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, str(self.port)], stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_until(lambda: reachable(self.endpoint), 60, "moto's S3 server")

    name = "moto"

    def stop(self) -> None:
        stop(self.proc)


class ExternalS3:
    """An S3-compatible server that runs already (``--s3-url``): its CPU is not on this script's meter (it may not
    even be on this machine), so only the client side's CPU is shown. The run's buckets are its own and are emptied
    and deleted at the end."""

    name = None
    proc = None

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        if not reachable(endpoint):
            raise SystemExit(f"--s3-url {endpoint}: nothing answers there")

    def stop(self) -> None:
        pass


def delete_buckets(s3, buckets) -> None:
    """Empty and delete the run's buckets (a shared server keeps nothing of the run)."""
    for bucket in buckets:
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            s3.delete_bucket(Bucket=bucket)
        except Exception as exc:  # noqa: BLE001 - cleanup
            print(f"(could not delete the bench bucket {bucket}: {exc})", file=sys.stderr)


class CpuMeter:
    """CPU seconds each role used between :meth:`start` and :meth:`stop` (from /proc): where the time goes.
    PostgreSQL and RabbitMQ are the machine's whole servers (other users of them count too)."""

    def __init__(self, roles: dict[str, list[int]]):
        self.roles = roles

    def _now(self) -> dict[str, float]:
        roles = dict(self.roles, postgres=pids_named("postgres"), rabbitmq=pids_named("beam.smp"))
        return {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}

    def start(self) -> None:
        self._before, self._t = self._now(), time.monotonic()

    def stop(self) -> tuple[str, dict[str, float]]:
        after, wall = self._now(), time.monotonic() - self._t
        used = {role: after[role] - self._before.get(role, 0.0) for role in after}
        cores = os.cpu_count() or 1
        return (f"CPU seconds during the ingestion ({wall:.1f}s wall, {cores} cores = {cores * wall:.1f}s): "
                + ", ".join(f"{role} {v:.1f}" for role, v in used.items()) + f"; sum {sum(used.values()):.1f}"), used


def cpu_budget(used: dict[str, float], n: int, raw_rate: float) -> str:
    """What the target allows: at ``TARGET`` x the raw rate on this machine's cores, each document may cost at most
    cores / (TARGET x raw rate) of CPU, all processes together; next to it what this run's documents cost. A run
    that is CPU-bound (the processes used most of the cores) cannot meet the target unless the cost per document
    falls below the budget, whatever the concurrency."""
    cores = os.cpu_count() or 1
    budget_ms = 1000 * cores / (TARGET * raw_rate)
    spent = {role: 1000 * v / n for role, v in used.items()}
    return (f"CPU per document: the target allows {budget_ms:.1f} ms on {cores} cores (all processes); this run "
            f"spent {sum(spent.values()):.1f} ms (" + ", ".join(f"{role} {v:.1f}" for role, v in spent.items()) + ")")


def start_profiles(outdir: str, roles: dict[str, list[int]], mode: str = "cpu") -> list[subprocess.Popen]:
    """py-spy on every Python role during the ingestion: ``cpu`` (``--gil``: where the CPU goes) or ``wall``
    (``--idle``: where each thread waits too)."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    Path(outdir).mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([spy, "record", "--gil" if mode == "cpu" else "--idle", "-p", str(pid), "-r", "200", "-f", "raw",
                              "-o", str(Path(outdir) / f"{role.split()[0]}-{pid}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for role, pids in roles.items() if role != "smtp server" for pid in pids]


def stop_profiles(spies: list[subprocess.Popen]) -> None:
    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    for spy in spies:
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()


def dead_lettered(health_ports: list[int]) -> dict[str, float]:
    """``portal_messages_dead_lettered_total`` for document.uploaded, by reason label, over the documents workers."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, float] = {}
    for port in health_ports:
        try:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.RequestException:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (sample.name == "portal_messages_dead_lettered_total"
                        and sample.labels.get("service") == "documents"
                        and sample.labels.get("event") == "document.uploaded"):
                    found[sample.labels["reason"]] = found.get(sample.labels["reason"], 0) + sample.value
    return found


def policy_event(i: int, now: str) -> dict:
    return {"policy_number": f"BENCH-{i:04d}", "product": "home", "status": "active", "payment_method": "direct_debit",
            "premium": {"amount": 36000, "frequency": "annual"}, "start_date": "2024-01-01",
            "policyholder": {"customer_id": f"BC-{i:04d}", "name": "Teszt Elek", "birth_name": "Teszt Elek",
                             "birth_date": "1980-01-01", "birth_place": "Pécs", "mother_name": "Minta Mária"},
            "updated_at": now}


def declaration_event(i: int, now: str) -> dict:
    return {"declaration_id": str(uuid.uuid4()), "customer_id": f"BC-{i:04d}", "policy_number": f"BENCH-{i:04d}",
            "email": f"bench-{i:04d}@example.org", "language": "hu", "text_version": "2026-11", "channel": "portal",
            "declared_at": now}


def fake_pdf(size: int, seed: int) -> bytes:
    head = b"%PDF-1.4\n% bench " + str(seed).encode() + b"\n"
    tail = b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


def publish(publisher, events: list[tuple[str, dict]]) -> None:
    from portal_common.bus import OutgoingMessage

    now = datetime.now(timezone.utc).isoformat()
    for start in range(0, len(events), 500):
        batch = [OutgoingMessage.for_event(str(uuid.uuid4()), name, payload, occurred_at=now, correlation_id=None)
                 for name, payload in events[start:start + 500]]
        failed = {k: v for k, v in publisher.publish_batch(batch).items() if v is not None}
        if failed:
            raise SystemExit(f"publishing failed: {next(iter(failed.values()))}")


def wait_until(predicate, timeout: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def start_worker(module: str, env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="documents (and raw copies); default 2000")
    parser.add_argument("--size-kb", type=int, default=200, help="object size in KB; default 200")
    parser.add_argument("--workers", type=int, default=1, help="documents worker processes; default 1")
    parser.add_argument("--consumers", type=int, default=None,
                        help="consumers per worker (PORTAL_DOCUMENTS_CONSUMERS); default: the service's default")
    parser.add_argument("--batch-size", type=int, default=100, help="consumer batch (PORTAL_DOCUMENTS_BATCH_SIZE)")
    parser.add_argument("--stall-timeout", type=float, default=180,
                        help="give up when nothing moves for this many seconds; default 180")
    parser.add_argument("--smtp", choices=("sink", "tarpit"), default="sink",
                        help="notify's SMTP server: an aiosmtpd sink (e-mails are sent during the run; default) or a "
                             "tarpit that never answers (e-mails stay queued; sending costs nothing)")
    parser.add_argument("--broken", type=int, default=0,
                        help="announce this many of the N documents with a wrong sha256 (they are dead-lettered: "
                             "checks that dead letters end the run and are reported); default 0")
    parser.add_argument("--profile", metavar="DIR", help="also record py-spy profiles (raw collapsed stacks) of "
                        "moto, the workers and this script during the ingestion into DIR (slows the run down)")
    parser.add_argument("--profile-mode", choices=("cpu", "wall"), default="cpu",
                        help="--profile records CPU (py-spy --gil; default) or wall time (--idle: waits too)")
    parser.add_argument("--s3-url", default=os.environ.get("PORTAL_BENCH_S3_URL"),
                        help="an S3-compatible server that runs already (MinIO, Ceph RGW, AWS) instead of moto; "
                             "keys from PORTAL_BENCH_S3_ACCESS_KEY_ID / PORTAL_BENCH_S3_SECRET_ACCESS_KEY / "
                             "PORTAL_BENCH_S3_REGION; the run makes buckets bench-<id>-* and deletes them")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args()
    n, size = args.count, args.size_kb * 1024

    from portal_common.bus import Publisher, connect, declare_topology, delete_topology, load_topology

    tmp = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    server = ExternalS3(args.s3_url) if args.s3_url else S3Server(tmp / "s3-server.log")
    endpoint = server.endpoint
    credentials = s3_credentials()
    s3 = s3_client(endpoint, credentials)
    run_id = uuid.uuid4().hex[:8]
    INBOX, DOCUMENTS, RAW_DST = (f"bench-{run_id}-{name}" for name in ("inbox", "documents", "raw-copies"))
    buckets_made: list[str] = []
    sink = db = notify_db = None

    amqp_url = os.environ.get("PORTAL_BENCH_AMQP_URL", DEFAULT_AMQP)
    amqp_url = amqp_url if reachable(amqp_url) else None
    namespace = "bench" + run_id
    env = dict(os.environ, PORTAL_BUS_NAMESPACE=namespace, PORTAL_S3_ENDPOINT_URL=endpoint,
               PORTAL_S3_INBOX_BUCKET=INBOX, PORTAL_S3_DOCUMENTS_BUCKET=DOCUMENTS, **credentials,
               PORTAL_VAR_DIR=str(tmp), PORTAL_DOCUMENTS_BATCH_SIZE=str(args.batch_size),
               PORTAL_RETENTION_SWEEP_SECONDS="3600", PYTHONUNBUFFERED="1",
               PORTAL_SMS_URL=f"http://127.0.0.1:{free_port()}/sms")
    env.pop("PORTAL_AMQP_URL", None)
    if args.consumers is not None:
        env["PORTAL_DOCUMENTS_CONSUMERS"] = str(args.consumers)
    if amqp_url:
        env["PORTAL_AMQP_URL"] = amqp_url
    os.environ.update({k: v for k, v in env.items() if k.startswith("PORTAL_")})  # for the in-process publisher
    if not amqp_url:
        os.environ.pop("PORTAL_AMQP_URL", None)
    topology = load_topology(namespace=namespace)
    workers: list[subprocess.Popen] = []
    health_ports: list[int] = []
    publisher = Publisher(topology, url=amqp_url)
    try:
        sink = SmtpSink(args.smtp, tmp / "smtp-server.log")
        env["PORTAL_SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}"
        db = Database(tmp, "documents")
        notify_db = Database(tmp, "notify")
        env["PORTAL_DOCUMENTS_DATABASE_URL"] = db.url
        env["PORTAL_NOTIFY_DATABASE_URL"] = notify_db.url
        where = f"moto on {endpoint} (a process of its own)" if server.name else f"{endpoint} (already running)"
        print(f"S3: {where} | bus: {'RabbitMQ ' + namespace if amqp_url else 'embedded file bus'} | "
              f"databases: {db.kind} | {n} documents of {args.size_kb} KB | {args.workers} documents worker "
              f"process(es) + 1 notify worker (SMTP: {'aiosmtpd sink' if args.smtp == 'sink' else 'tarpit'})",
              flush=True)
        with connect(amqp_url) as conn:
            conn.connect()
            declare_topology(conn, topology)

        # ---- not timed: notify with a declaration per customer, policies, buckets, uploads
        now = datetime.now(timezone.utc).isoformat()
        workers.append(start_worker("notify.entrypoints.worker", dict(env, PORTAL_HEALTH_PORT=str(free_port())),
                                    tmp / "notify-worker.log"))
        publish(publisher, [("customer.declared", declaration_event(i, now)) for i in range(POLICIES)])
        publish(publisher, [("policy.upserted", policy_event(i, now)) for i in range(POLICIES)])
        for bucket in (INBOX, DOCUMENTS, RAW_DST):
            s3.create_bucket(Bucket=bucket)
            buckets_made.append(bucket)

        def put(i: int) -> dict:
            data = fake_pdf(size, i)
            document_id = str(uuid.uuid4())
            key = f"inbox/{document_id}.pdf"
            s3.put_object(Bucket=INBOX, Key=key, Body=data, ContentType="application/pdf", ChecksumAlgorithm="SHA256")
            p = i % POLICIES
            return {"document_id": document_id, "policy_number": f"BENCH-{p:04d}", "customer_id": f"BC-{p:04d}",
                    "doc_type": "premium_notice", "title": f"Díjértesítő {i}", "uploaded_at": now, "bucket": INBOX,
                    "key": key, "content_type": "application/pdf", "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()}

        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            events = list(pool.map(put, range(n)))
        broken = {e["document_id"] for e in events[:args.broken]}
        for e in events[:args.broken]:
            e["sha256"] = hashlib.sha256(e["sha256"].encode()).hexdigest()  # not the object's: dead-lettered
        print(f"uploaded {n} objects to the inbox in {time.perf_counter() - t0:.1f}s (not timed)", flush=True)
        wait_until(lambda: notify_db.scalar("SELECT count(*) FROM contacts WHERE declaration_email IS NOT NULL")
                   == POLICIES, 120, "notify to apply customer.declared")

        # ---- timed: raw CopyObject, first half now and second half after the ingestion, so that both
        # measurements see the same machine (a shared VM's load moves during a run)
        server_role = {server.name: [server.proc.pid]} if server.proc else {}  # an external server: not metered
        raw_roles = server_role | {"this script (boto3 client)": [os.getpid()]}
        raw_cpu = dict.fromkeys(raw_roles, 0.0)

        def raw_copies(sources: list[tuple[str, str]], offset: int) -> float:
            before = {role: sum(map(cpu_seconds, pids)) for role, pids in raw_roles.items()}
            t = time.perf_counter()
            for i, (bucket, key) in enumerate(sources):
                s3.copy_object(Bucket=RAW_DST, Key=f"raw/{offset + i}.pdf", CopySource={"Bucket": bucket, "Key": key})
            elapsed = time.perf_counter() - t
            for role, pids in raw_roles.items():
                raw_cpu[role] += sum(map(cpu_seconds, pids)) - before[role]
            return elapsed

        s3.copy_object(Bucket=RAW_DST, Key="warm-up", CopySource={"Bucket": INBOX, "Key": events[0]["key"]})
        half = n // 2
        t_raw = raw_copies([(INBOX, e["key"]) for e in events[:half]], 0)

        for w in range(args.workers):
            health = free_port()
            health_ports.append(health)
            workers.append(start_worker("documents.entrypoints.worker", dict(env, PORTAL_HEALTH_PORT=str(health)),
                                        tmp / f"documents-worker-{w}.log"))
        wait_until(lambda: db.scalar("SELECT count(*) FROM policy_owners") == POLICIES, 60,
                   "the documents worker to apply policy.upserted")
        time.sleep(0.5)

        # ---- timed: event -> stored -> e-mail queued (notify has recorded the document_available delivery)
        queued_sql = ("SELECT count(*) FROM deliveries WHERE template = 'document_available' "
                      "AND status IN ('pending', 'sent')")
        state = {"stored": 0, "dead": 0.0, "queued": 0, "t_stored": None, "moved_at": time.monotonic()}

        def done() -> bool:
            stored = db.scalar("SELECT count(*) FROM documents")
            dead = sum(dead_lettered(health_ports).values()) if stored < n else 0.0
            queued = notify_db.scalar(queued_sql)
            if (stored, dead, queued) != (state["stored"], state["dead"], state["queued"]):
                state.update(stored=stored, dead=dead, queued=queued, moved_at=time.monotonic())
            elif time.monotonic() - state["moved_at"] > args.stall_timeout:
                raise SystemExit(f"no progress for {args.stall_timeout:.0f}s: {stored} stored, {dead:.0f} "
                                 f"dead-lettered, {queued} e-mails queued of {n}; logs in {tmp}")
            if state["t_stored"] is None and stored + dead >= n:
                state["t_stored"] = time.perf_counter() - t0
            return stored + dead >= n and queued >= stored

        roles = server_role | {
            "documents worker": [w.pid for w in workers[1:]], "notify worker": [workers[0].pid],
            "smtp server": [sink.proc.pid], "this script": [os.getpid()]}
        meter = CpuMeter(roles)
        spies = start_profiles(args.profile, roles, args.profile_mode) if args.profile else []
        meter.start()
        t0 = time.perf_counter()
        publish(publisher, [("document.uploaded", e) for e in events])
        wait_until(done, 3600, "every document stored or dead-lettered, and its e-mail queued")
        t_ingest = time.perf_counter() - t0
        cpu_line, cpu_used = meter.stop()
        stop_profiles(spies)
        stored, queued = state["stored"], state["queued"]
        dead = dead_lettered(health_ports)
        ingest_rate = n / t_ingest
        sent_sql = "SELECT count(*) FROM deliveries WHERE template = 'document_available' AND status = 'sent'"
        sent_at_stop = notify_db.scalar(sent_sql)
        leftover = s3.list_objects_v2(Bucket=INBOX).get("KeyCount", 0)
        stored_what = "all stored" if stored >= n else "all stored or dead-lettered"
        print(f"ingestion: {n} documents in {t_ingest:.1f}s ({stored_what} after {state['t_stored']:.1f}s, "
              f"{queued} e-mails queued by notify) = {ingest_rate:.1f} documents/s; inbox objects left: {leftover}",
              flush=True)
        print(cpu_line, flush=True)
        if sum(dead.values()):
            print(f"DEAD-LETTERED: {sum(dead.values()):.0f} of {n} documents (by reason: "
                  + ", ".join(f"{k!r}: {v:.0f}" for k, v in sorted(dead.items())) + ")", flush=True)

        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        workers.clear()

        # the second half copies the stored documents (a dead-lettered one's inbox object where it was not stored)
        t_raw += raw_copies([(INBOX, e["key"]) if e["document_id"] in broken else
                             (DOCUMENTS, f"customers/{e['customer_id']}/{e['document_id']}.pdf")
                             for e in events[half:]], half)
        raw_rate = n / t_raw
        ratio = ingest_rate / raw_rate
        print(f"raw boto3 CopyObject: {n} objects in {t_raw:.1f}s = {raw_rate:.1f} copies/s (CPU seconds: "
              + ", ".join(f"{k} {v:.1f}" for k, v in raw_cpu.items()) + ")", flush=True)
        verdict = "meets" if ratio >= TARGET else "BELOW"
        print(f"ratio ingestion / raw copy = {ratio:.2f} ({verdict} the target {TARGET})", flush=True)
        print(cpu_budget(cpu_used, n, raw_rate) + ("" if server.name else "; the S3 server's own CPU is not counted"),
              flush=True)
        print(f"(not timed: notify had sent {sent_at_stop} of the {queued} queued document e-mails to the SMTP server "
              f"when the clock stopped)", flush=True)
        if args.json:
            print(json.dumps({"count": n, "size_kb": args.size_kb, "workers": args.workers, "database": db.kind,
                              "smtp": args.smtp, "s3": server.name or endpoint,
                              "bus": "rabbitmq" if amqp_url else "file", "ingest_per_s": round(ingest_rate, 1),
                              "raw_copy_per_s": round(raw_rate, 1), "ratio": round(ratio, 3), "stored": stored,
                              "emails_queued": queued, "dead_lettered": dead}))
        return 0
    finally:
        for proc in workers:
            proc.kill()
        publisher.close()
        if amqp_url:
            try:
                with connect(amqp_url) as conn:
                    conn.connect()
                    delete_topology(conn, topology)
            except Exception as exc:  # noqa: BLE001 - cleanup
                print(f"(could not delete the bench topology: {exc})", file=sys.stderr)
        for resource in (db, notify_db):
            if resource is not None:
                resource.drop()
        if sink is not None:
            sink.stop()
        if not server.name:
            delete_buckets(s3, buckets_made)
        server.stop()
        print(f"worker logs: {tmp}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
