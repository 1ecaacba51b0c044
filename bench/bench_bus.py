"""make bench-bus: confirmed events per second end to end, next to raw pika on the same broker, in one run.

Each run measures, against the same RabbitMQ, one after the other, with N persistent ~1 KB messages:
  raw-confirm   pika BlockingConnection, publisher confirms, one confirm awaited per message (the baseline)
  raw-noconfirm pika BlockingConnection, no confirms (the broker's upper bound for one publisher)
  relay alone   rows in a PostgreSQL outbox -> the project's relay (pipelined confirms) -> RabbitMQ, no consumer
  end to end    rows in the outbox -> relay -> RabbitMQ -> C consumer processes (the project's Worker, competing on
                one queue) -> handler effect + idempotency row committed in PostgreSQL, for each C of --consumers
The relay and the consumers are separate processes, as in production. Ratios are against raw-confirm of the same
run; the verdict uses the median of the runs' ratios for the deployment's default consumer count.

    .venv/bin/python bench/bench_bus.py                              # 3 runs x (1, 2, 4 consumers), 20,000 msgs
    .venv/bin/python bench/bench_bus.py --runs 1 --count 5000 --consumers 2    # a quick look
    .venv/bin/python bench/bench_bus.py --runs 1 --consumers 1 --profile /tmp/prof   # cProfile each consumer
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pika
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, text

from procstat import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
AMQP = os.environ.get("PORTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PAYLOAD = {"policy_number": "KGFB-BENCH", "customer_id": "C-BENCH", "payment_method": "bank_transfer",
           "previous_payment_method": "cheque", "padding": "x" * 850}
SERVICE = "notify"  # the consuming service whose queue (notify.events) the benchmark uses
EVENT = "policy.enrolled"
# The deployment's default number of consumer processes per queue: deploy/k8s/overlays/prod runs every worker
# Deployment with 2 replicas (the documents worker's HPA starts at 2), one consumer each. The target is about this.
DEFAULT_CONSUMERS = 2
TARGET = 3.0


def pika_params():
    return pika.URLParameters(AMQP[:-1] + "%2F" if AMQP.endswith("//") else AMQP)


# ------------------------------------------------------------------------------------------------- raw baselines
def raw_publish(count: int, confirms: bool) -> float:
    conn = pika.BlockingConnection(pika_params())
    ch = conn.channel()
    queue = ch.queue_declare(f"bench.raw.{uuid.uuid4().hex[:8]}", durable=True).method.queue
    if confirms:
        ch.confirm_delivery()
    body = json.dumps(PAYLOAD).encode()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    started = time.perf_counter()
    for _ in range(count):
        ch.basic_publish("", queue, body, props)
    if not confirms:
        # Make the comparison fair: wait until the broker has every message before stopping the clock.
        while ch.queue_declare(queue, passive=True).method.message_count < count:
            time.sleep(0.01)
    elapsed = time.perf_counter() - started
    ch.queue_delete(queue)
    conn.close()
    return count / elapsed


# ------------------------------------------------------------------------------------------ the processes' roles
def role_relay(db_url: str, go_file: str) -> None:
    from portal_common.bus import Publisher, load_topology
    from portal_common.db import make_engine, make_session_factory
    from portal_common.outbox import OutboxRelay

    engine = make_engine(db_url)
    relay = OutboxRelay("bench", make_session_factory(engine), Publisher(load_topology()), batch_size=1000)
    relay.publisher._ensure()
    Path(go_file + ".relay-ready").touch()
    while not Path(go_file).exists():
        time.sleep(0.002)
    started, cpu = time.perf_counter(), time.process_time()
    while relay.relay_once():
        pass
    Path(go_file + ".relay-seconds").write_text(f"{time.perf_counter() - started} {time.process_time() - cpu}")
    relay.publisher.close()


def role_consumer(db_url: str, go_file: str, profile: str | None, batch_size: int | None) -> None:
    from portal_common import logs
    from portal_common.bus import load_topology
    from portal_common.consumer import Worker
    from portal_common.db import make_engine, make_session_factory
    from portal_common.testing import plumbing_bus

    logs.configure_logging(f"{SERVICE}-worker")  # as in production: JSON lines on stderr at INFO
    engine = make_engine(db_url)

    insert_applied = text("INSERT INTO applied (message_id) VALUES (:m)")

    def apply(data, *, uow, message):  # the handler's own effect: one row per message, in the batch's transaction
        uow.session.execute(insert_applied, {"m": message.message_id})

    options = {"batch_size": batch_size} if batch_size else {}  # default: the Worker's, as every service runs it
    worker = Worker(SERVICE, plumbing_bus(apply, [EVENT]), make_session_factory(engine), load_topology(), url=AMQP,
                    **options)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    Path(f"{go_file}.consumer-ready.{os.getpid()}").touch()
    worker.run_forever()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.path.join(profile, f"consumer-{os.getpid()}.pstats"))


def broker_pid() -> int | None:
    """RabbitMQ's Erlang VM on this machine (None when the broker runs elsewhere)."""
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == "beam.smp":
                return int(stat.parent.name)
        except OSError:
            continue
    return None


def machine_cpu() -> float:
    """CPU seconds every core of the machine has been busy (not idle, not waiting for I/O) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------------- the stage
class Stage:
    """Two throwaway databases (producer outbox, consumer) and a bus namespace, reused by every measurement."""

    def __init__(self, count: int, profile: str | None, batch_size: int | None):
        from portal_common import testing
        from portal_common.bus import connect, declare_topology, load_topology

        self.count, self.profile, self.batch_size = count, profile, batch_size
        self.namespace = testing.bus_namespace()
        self.topology = load_topology(namespace=self.namespace)
        with connect(AMQP) as conn:
            declare_topology(conn, self.topology)
        self.queue = self.topology.for_service(SERVICE).queue
        self._dbs = [testing.temp_postgres_database("bench_producer"), testing.temp_postgres_database("bench_consumer")]
        self.producer_db, self.consumer_db = (cm.__enter__() for cm in self._dbs)
        from portal_common.db import plumbing_tables
        metadata = MetaData()
        self.outbox, _ = plumbing_tables(metadata)
        Table("applied", metadata, Column("message_id", String(200), primary_key=True))
        for url in (self.producer_db, self.consumer_db):
            engine = create_engine(url)
            metadata.create_all(engine)
            engine.dispose()
        self.producer = create_engine(self.producer_db)
        self.consumer = create_engine(self.consumer_db)
        self.env = {**os.environ, "PORTAL_AMQP_URL": AMQP, "PORTAL_BUS_NAMESPACE": self.namespace}
        self.go = f"/tmp/bench-bus-{self.namespace}"
        self.logdir = tempfile.mkdtemp(prefix="bench-bus-")

    def close(self, failed: bool = False) -> None:
        """Drop the databases and the topology; the consumers' logs are removed unless the run failed."""
        from portal_common.bus import connect, delete_topology
        for leftover in Path("/tmp").glob(Path(self.go).name + "*"):
            leftover.unlink(missing_ok=True)
        if failed:
            print(f"consumer logs kept in {self.logdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.logdir, ignore_errors=True)
        self.producer.dispose()
        self.consumer.dispose()
        for cm in reversed(self._dbs):
            cm.__exit__(None, None, None)
        with connect(AMQP) as conn:
            delete_topology(conn, self.topology)

    def _reset(self) -> None:
        """Empty tables and queue, then the rows an API would have written (one per business transaction)."""
        from portal_common.db import utcnow
        with self.consumer.begin() as conn:
            conn.execute(text("TRUNCATE applied, processed_messages"))
        with self.producer.begin() as conn:
            conn.execute(text("TRUNCATE outbox"))
            now = utcnow()
            conn.execute(insert(self.outbox), [
                {"event_id": str(uuid.uuid4()), "event": EVENT, "version": 1, "payload": json.dumps(PAYLOAD),
                 "correlation_id": "bench", "occurred_at": now, "attempts": 0, "next_attempt_at": now}
                for _ in range(self.count)])
        with self.producer.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE outbox"))
        self._queue_op(lambda ch: ch.queue_purge(self.queue))
        for leftover in Path("/tmp").glob(Path(self.go).name + "*"):
            leftover.unlink(missing_ok=True)

    def _queue_op(self, fn):
        conn = pika.BlockingConnection(pika_params())
        try:
            return fn(conn.channel())
        finally:
            conn.close()

    def _consumers_on_queue(self) -> int:
        return self._queue_op(lambda ch: ch.queue_declare(self.queue, passive=True).method.consumer_count)

    def _start_relay(self):
        return subprocess.Popen([sys.executable, __file__, "--role", "relay", "--db", self.producer_db, "--go", self.go],
                                env=self.env, stderr=subprocess.DEVNULL)

    def _relay_rate(self, relay) -> tuple[float, float]:
        """(the relay's msg/s, its CPU µs per message)"""
        relay.wait(120)
        seconds, cpu = (float(x) for x in Path(self.go + ".relay-seconds").read_text().split())
        return self.count / seconds, cpu * 1e6 / self.count

    def relay_alone(self) -> float:
        self._reset()
        relay = self._start_relay()
        while not Path(self.go + ".relay-ready").exists():
            time.sleep(0.01)
        Path(self.go).touch()
        rate, _cpu = self._relay_rate(relay)
        self._queue_op(lambda ch: ch.queue_purge(self.queue))
        return rate

    def end_to_end(self, consumers: int) -> tuple[float, float, int, dict]:
        """(end-to-end msg/s, the relay's own msg/s during it, consumer log lines at INFO or above, CPU µs per
        message: the consumers, the relay, the whole machine)."""
        self._reset()
        logs = [Path(self.logdir, f"consumer-{consumers}-{i}.log") for i in range(consumers)]
        args = (["--profile", self.profile] if self.profile else []) + (
            ["--batch-size", str(self.batch_size)] if self.batch_size else [])
        procs = [subprocess.Popen([sys.executable, __file__, "--role", "consumer", "--db", self.consumer_db,
                                   "--go", self.go, *args], env=self.env, stderr=log.open("w"))
                 for log in logs]
        relay = self._start_relay()
        deadline = time.monotonic() + 120
        while not (Path(self.go + ".relay-ready").exists() and self._consumers_on_queue() >= consumers):
            if time.monotonic() > deadline:
                raise SystemExit("the consumers did not subscribe within 120 s: see " + self.logdir)
            time.sleep(0.05)
        beam = broker_pid()
        with self.consumer.connect() as conn:
            cpu0 = [cpu_seconds(p.pid) for p in procs], machine_cpu(), cpu_seconds(beam) if beam else 0.0
            started = time.perf_counter()
            Path(self.go).touch()
            while conn.execute(text("SELECT count(*) FROM applied")).scalar() < self.count:
                time.sleep(0.05)
                conn.commit()
            elapsed = time.perf_counter() - started
            cpu1 = [cpu_seconds(p.pid) for p in procs], machine_cpu(), cpu_seconds(beam) if beam else 0.0
            # The consumers' PostgreSQL backends (they connected after the go signal: all their CPU is this run's).
            backends = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND pid <> pg_backend_pid()")).scalars().all()
            pg = sum(cpu_seconds(pid) for pid in backends if Path(f"/proc/{pid}").exists())
        relay_rate, relay_cpu = self._relay_rate(relay)
        per = 1e6 / self.count
        cpu = {"consumers": (sum(cpu1[0]) - sum(cpu0[0])) * per, "machine": (cpu1[1] - cpu0[1]) * per,
               "relay": relay_cpu, "broker": (cpu1[2] - cpu0[2]) * per, "pg": pg * per}
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
        lines = 0
        for log in logs:
            for line in log.read_text().splitlines():
                try:
                    level = json.loads(line).get("level")
                except ValueError:
                    level = "unparsed"
                lines += level != "debug"
        return self.count / elapsed, relay_rate, lines, cpu


# ------------------------------------------------------------------------------------------------------- report
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20000, help="messages per measurement (default 20000)")
    parser.add_argument("--consumers", default="1,2,4",
                        help="consumer process counts to measure, comma-separated (default 1,2,4)")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are printed when > 1 (default 3)")
    parser.add_argument("--profile", metavar="DIR", help="cProfile every consumer process into DIR/*.pstats")
    parser.add_argument("--batch-size", type=int, help="the consumers' batch size (default: the Worker's default)")
    parser.add_argument("--role", choices=["relay", "consumer"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "relay":
        return role_relay(args.db, args.go)
    if args.role == "consumer":
        return role_consumer(args.db, args.go, args.profile, args.batch_size)

    counts = [int(c) for c in args.consumers.split(",")]
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    print(f"bench-bus: {args.count} persistent ~1 KB messages per measurement, broker {AMQP.split('@')[-1]}, "
          f"{args.runs} run(s), consumer processes {', '.join(map(str, counts))}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    stage = Stage(args.count, args.profile, args.batch_size)
    results = []  # per run: {"baseline":, "noconfirm":, "relay":, n: (e2e, relay_during, lines)}
    failed = True
    try:
        for run in range(1, args.runs + 1):
            r = {"baseline": raw_publish(min(args.count, 10000), confirms=True),
                 "noconfirm": raw_publish(args.count, confirms=False), "relay": stage.relay_alone()}
            for n in counts:
                r[n] = stage.end_to_end(n)
            results.append(r)
            e2e = "  ".join(f"{n}c {r[n][0]:.0f} ({r[n][0] / r['baseline']:.2f}x, relay {r[n][1]:.0f}; CPU us/msg "
                            f"consumers {r[n][3]['consumers']:.0f} their postgres {r[n][3]['pg']:.0f} relay {r[n][3]['relay']:.0f} "
                            f"rabbitmq {r[n][3]['broker']:.0f} machine {r[n][3]['machine']:.0f})"
                            for n in counts)
            print(f"run {run}: baseline {r['baseline']:.0f}  no-confirm {r['noconfirm']:.0f}  relay alone "
                  f"{r['relay']:.0f}  end to end: {e2e}  load {os.getloadavg()[0]:.2f}", flush=True)
        failed = False
    finally:
        stage.close(failed)

    med = statistics.median
    print()
    print(f"{'msg/s (median of ' + str(args.runs) + ' runs)':<46}  {'msg/s':>7}  {'x baseline':>10}  runs")
    base = med(r["baseline"] for r in results)

    def row(name, values, ratios):
        print(f"{name:<46}  {med(values):>7.0f}  {med(ratios):>10.2f}  {' / '.join(f'{v:.0f}' for v in values)}")

    row("raw pika, per-message confirms (baseline)", [r["baseline"] for r in results], [1.0])
    row("raw pika, no confirms", [r["noconfirm"] for r in results], [r["noconfirm"] / r["baseline"] for r in results])
    row("relay alone (outbox -> RabbitMQ, no consumer)", [r["relay"] for r in results],
        [r["relay"] / r["baseline"] for r in results])
    for n in counts:
        row(f"end to end, {n} consumer process{'es' if n > 1 else ''}", [r[n][0] for r in results],
            [r[n][0] / r["baseline"] for r in results])
    print()
    one = med(r[counts[0]][0] for r in results)
    scaling = ", ".join(f"{n}: {med(r[n][0] for r in results) / one:.2f}x" for n in counts[1:])
    if scaling:
        print(f"scaling out (median end to end vs {counts[0]} consumer process): {scaling}")
    relay = med(r["relay"] for r in results)
    top = max(med(r[n][0] for r in results) for n in counts)
    print(f"relay alone {relay:.0f} msg/s vs the best end to end {top:.0f} msg/s: "
          f"{'the relay is not the cap' if relay > top else 'THE RELAY IS THE CAP'}")
    lines = {n: max(r[n][2] for r in results) for n in counts}
    print("consumer log lines at INFO or above per measurement (all processes, at most): "
          + ", ".join(f"{n}c {lines[n]}" for n in counts) + f" for {args.count} messages")
    if DEFAULT_CONSUMERS in counts:
        ratio = med(r[DEFAULT_CONSUMERS][0] / r["baseline"] for r in results)
        verdict = "OK" if ratio >= TARGET else "BELOW TARGET"
        print(f"target: end to end with {DEFAULT_CONSUMERS} consumer processes (the deployment's default) >= "
              f"{TARGET:.2f} x per-message confirms, median of {args.runs} run(s) -> {ratio:.2f} x  [{verdict}]")
    if args.profile:
        import pstats
        for f in sorted(Path(args.profile).glob("consumer-*.pstats"))[:1]:
            print(f"\n{f}:")
            pstats.Stats(str(f)).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
