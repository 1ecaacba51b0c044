#!/usr/bin/env python3
"""Document ingestion throughput next to raw boto3 CopyObject on the same S3 server, in the same run.

``make bench-documents`` / ``.venv/bin/python bench/bench_documents.py [--count N] [--size-kb K] [--workers W]``

1. Starts moto's S3 server in-process (``ThreadedMotoServer``), uses RabbitMQ when reachable (a fresh bus
   namespace) or else the embedded file bus, and a throwaway PostgreSQL database (SQLite file when PostgreSQL is not
   reachable); runs the documents migrations.
2. Publishes ``policy.upserted`` for the benchmark's policies and uploads N PDFs of K KB into the inbox bucket with
   ``ChecksumAlgorithm=SHA256``, as the core system is told to (not timed).
3. Starts the real worker process(es) (``python -m documents.entrypoints.worker``), publishes N
   ``document.uploaded`` and times until every document is stored *and* its ``document.available`` (the event that
   makes notify queue the e-mail) has been confirmed by the broker out of the outbox.
4. Times N raw ``CopyObject`` calls of K KB objects on the same S3 server from one boto3 client: half before the
   ingestion, half after it, so both sides of the ratio see the same machine load.
5. Prints both rates and the ratio (target >= 0.7).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
INBOX, DOCUMENTS, RAW_DST = "portal-inbox", "portal-documents", "bench-raw-copies"
POLICIES = 50
TARGET = 0.7


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="portal", aws_secret_access_key="portal-secret",
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))


class Database:
    """A throwaway PostgreSQL database, or a SQLite file when PostgreSQL is not reachable."""

    def __init__(self, tmp: Path):
        from sqlalchemy import create_engine, text

        self._text = text
        base = os.environ.get("PORTAL_BENCH_POSTGRES_URL", DEFAULT_PG)
        self.admin = None
        if reachable(base):
            self.name = f"bench_documents_{uuid.uuid4().hex[:8]}"
            self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = base.rsplit("/", 1)[0] + "/" + self.name
            self.kind = "PostgreSQL"
        else:
            self.url = f"sqlite:///{tmp / 'documents.db'}"
            self.kind = "SQLite (PostgreSQL not reachable)"
        self.engine = create_engine(self.url)

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


def policy_event(i: int, now: str) -> dict:
    return {"policy_number": f"BENCH-{i:04d}", "product": "home", "status": "active", "payment_method": "direct_debit",
            "premium": {"amount": 36000, "frequency": "annual"}, "start_date": "2024-01-01",
            "policyholder": {"customer_id": f"BC-{i:04d}", "name": "Teszt Elek", "birth_name": "Teszt Elek",
                             "birth_date": "1980-01-01", "birth_place": "Pécs", "mother_name": "Minta Mária"},
            "updated_at": now}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="documents (and raw copies); default 2000")
    parser.add_argument("--size-kb", type=int, default=200, help="object size in KB; default 200")
    parser.add_argument("--workers", type=int, default=1, help="documents worker processes; default 1")
    parser.add_argument("--consumers", type=int, default=4, help="consumers per worker (PORTAL_DOCUMENTS_CONSUMERS)")
    parser.add_argument("--batch-size", type=int, default=100, help="consumer batch (PORTAL_DOCUMENTS_BATCH_SIZE)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args()
    n, size = args.count, args.size_kb * 1024

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise

    from portal_common.bus import Publisher, connect, declare_topology, delete_topology, load_topology

    tmp = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    s3_port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{s3_port}"
    s3 = s3_client(endpoint)

    amqp_url = os.environ.get("PORTAL_BENCH_AMQP_URL", DEFAULT_AMQP)
    amqp_url = amqp_url if reachable(amqp_url) else None
    namespace = "bench" + uuid.uuid4().hex[:8]
    env = dict(os.environ, PORTAL_BUS_NAMESPACE=namespace, PORTAL_S3_ENDPOINT_URL=endpoint,
               PORTAL_VAR_DIR=str(tmp), PORTAL_DOCUMENTS_BATCH_SIZE=str(args.batch_size),
               PORTAL_RETENTION_SWEEP_SECONDS="3600", PYTHONUNBUFFERED="1",
               PORTAL_DOCUMENTS_CONSUMERS=str(args.consumers))
    env.pop("PORTAL_AMQP_URL", None)
    if amqp_url:
        env["PORTAL_AMQP_URL"] = amqp_url
    os.environ.update({k: v for k, v in env.items() if k.startswith("PORTAL_")})  # for the in-process publisher
    if not amqp_url:
        os.environ.pop("PORTAL_AMQP_URL", None)
    topology = load_topology(namespace=namespace)
    db = Database(tmp)
    env["PORTAL_DOCUMENTS_DATABASE_URL"] = db.url
    workers: list[subprocess.Popen] = []
    publisher = Publisher(topology, url=amqp_url)
    try:
        print(f"S3: moto on {endpoint} | bus: {'RabbitMQ ' + namespace if amqp_url else 'embedded file bus'} | "
              f"database: {db.kind} | {n} documents of {args.size_kb} KB | {args.workers} worker process(es)",
              flush=True)
        subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "services/documents/alembic.ini"),
                        "upgrade", "head"], env=dict(env, ALEMBIC_DATABASE_URL=db.url), check=True,
                       capture_output=True)
        with connect(amqp_url) as conn:
            conn.connect()
            declare_topology(conn, topology)

        # ---- not timed: policies, buckets, uploads
        now = datetime.now(timezone.utc).isoformat()
        publish(publisher, [("policy.upserted", policy_event(i, now)) for i in range(POLICIES)])
        for bucket in (INBOX, DOCUMENTS, RAW_DST):
            s3.create_bucket(Bucket=bucket)
        events = []

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
        print(f"uploaded {n} objects to the inbox in {time.perf_counter() - t0:.1f}s (not timed)", flush=True)

        # ---- timed: raw CopyObject, first half now and second half after the ingestion, so that both
        # measurements see the same machine (a shared VM's load moves during a run)
        def raw_copies(sources: list[tuple[str, str]], offset: int) -> float:
            t = time.perf_counter()
            for i, (bucket, key) in enumerate(sources):
                s3.copy_object(Bucket=RAW_DST, Key=f"raw/{offset + i}.pdf", CopySource={"Bucket": bucket, "Key": key})
            return time.perf_counter() - t

        s3.copy_object(Bucket=RAW_DST, Key="warm-up", CopySource={"Bucket": INBOX, "Key": events[0]["key"]})
        half = n // 2
        t_raw = raw_copies([(INBOX, e["key"]) for e in events[:half]], 0)

        for w in range(args.workers):
            health = free_port()
            log = open(tmp / f"worker-{w}.log", "wb")
            workers.append(subprocess.Popen([sys.executable, "-m", "documents.entrypoints.worker"],
                                            env=dict(env, PORTAL_HEALTH_PORT=str(health)), stdout=log,
                                            stderr=subprocess.STDOUT, cwd=ROOT))
        wait_until(lambda: db.scalar("SELECT count(*) FROM policy_owners") == POLICIES, 60,
                   "the worker to apply policy.upserted")
        time.sleep(0.5)

        # ---- timed: event -> stored -> document.available confirmed by the broker
        t0 = time.perf_counter()
        publish(publisher, [("document.uploaded", e) for e in events])
        wait_until(lambda: db.scalar("SELECT count(*) FROM documents") >= n, 3600, "all documents stored")
        t_stored = time.perf_counter() - t0
        wait_until(lambda: db.scalar("SELECT count(*) FROM outbox WHERE event = 'document.available' "
                                     "AND published_at IS NOT NULL") >= n, 600, "all document.available published")
        t_ingest = time.perf_counter() - t0
        ingest_rate = n / t_ingest
        leftover = s3.list_objects_v2(Bucket=INBOX).get("KeyCount", 0)
        dead = db.scalar("SELECT count(*) FROM documents") - n
        print(f"ingestion: {n} documents in {t_ingest:.1f}s (all stored after {t_stored:.1f}s) = "
              f"{ingest_rate:.1f} documents/s; inbox objects left: {leftover}", flush=True)

        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        workers.clear()

        t_raw += raw_copies([(DOCUMENTS, f"customers/{e['customer_id']}/{e['document_id']}.pdf")
                             for e in events[half:]], half)
        raw_rate = n / t_raw
        ratio = ingest_rate / raw_rate
        print(f"raw boto3 CopyObject: {n} objects in {t_raw:.1f}s = {raw_rate:.1f} copies/s", flush=True)
        verdict = "meets" if ratio >= TARGET else "BELOW"
        print(f"ratio ingestion / raw copy = {ratio:.2f} ({verdict} the target {TARGET})", flush=True)
        if args.json:
            print(json.dumps({"count": n, "size_kb": args.size_kb, "workers": args.workers, "database": db.kind,
                              "bus": "rabbitmq" if amqp_url else "file", "ingest_per_s": round(ingest_rate, 1),
                              "raw_copy_per_s": round(raw_rate, 1), "ratio": round(ratio, 3),
                              "unexpected_rows": dead}))
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
        db.drop()
        server.stop()
        print(f"worker logs: {tmp}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
