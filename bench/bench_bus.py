"""make bench-bus: confirmed events per second end to end, next to raw pika on the same broker, in one run.

Three measurements against the same RabbitMQ, one after the other, each with N persistent ~1 KB messages:
  raw-confirm   pika BlockingConnection, publisher confirms, one confirm awaited per message (the baseline)
  raw-noconfirm pika BlockingConnection, no confirms (the broker's upper bound for one publisher)
  end-to-end    rows already in a PostgreSQL outbox -> the project's relay (pipelined confirms) -> RabbitMQ ->
                the project's consumer -> handler effect + idempotency row committed in PostgreSQL
The relay and the consumer run as separate processes, as in production. Ratios are printed against raw-confirm.

    .venv/bin/python bench/bench_bus.py [--count 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
AMQP = os.environ.get("PORTAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PAYLOAD = {"policy_number": "KGFB-BENCH", "customer_id": "C-BENCH", "payment_method": "bank_transfer",
           "previous_payment_method": "cheque", "padding": "x" * 850}


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


# ---------------------------------------------------------------------------------------------------- end to end
def role_relay(db_url: str, go_file: str) -> None:
    from portal_common.bus import Publisher, load_topology
    from portal_common.db import make_engine, make_session_factory
    from portal_common.outbox import OutboxRelay

    engine = make_engine(db_url)
    relay = OutboxRelay("bench", make_session_factory(engine), Publisher(load_topology()), batch_size=1000)
    relay.publisher._ensure()
    Path(go_file + ".relay-ready").touch()
    while not Path(go_file).exists():
        time.sleep(0.005)
    started = time.perf_counter()
    while relay.relay_once():
        pass
    Path(go_file + ".relay-seconds").write_text(str(time.perf_counter() - started))
    relay.publisher.close()


def role_consumer(db_url: str, go_file: str) -> None:
    from portal_common.bus import load_topology
    from portal_common.consumer import Worker
    from portal_common.db import make_engine, make_session_factory
    from portal_common.testing import plumbing_bus

    engine = make_engine(db_url)

    def apply(data, *, uow, message):
        uow.session.execute(text("INSERT INTO applied (message_id) VALUES (:m)"), {"m": message.message_id})

    worker = Worker("notify", plumbing_bus(apply, ["policy.enrolled"]), make_session_factory(engine), load_topology(),
                    url=AMQP, batch_size=200)
    Path(go_file + ".consumer-ready").touch()
    worker.run_forever()


def end_to_end(count: int) -> float:
    from portal_common import testing
    from portal_common.bus import connect, declare_topology, delete_topology, load_topology
    from portal_common.db import plumbing_tables, utcnow

    namespace = testing.bus_namespace()
    topology = load_topology(namespace=namespace)
    with connect(AMQP) as conn:
        declare_topology(conn, topology)
    go_file = f"/tmp/bench-bus-{namespace}"
    with testing.temp_postgres_database("bench_producer") as producer_db, \
            testing.temp_postgres_database("bench_consumer") as consumer_db:
        metadata = MetaData()
        outbox, _ = plumbing_tables(metadata)
        Table("applied", metadata, Column("message_id", String(200), primary_key=True))
        for url in (producer_db, consumer_db):
            engine = create_engine(url)
            metadata.create_all(engine)
            engine.dispose()
        engine = create_engine(producer_db)
        now = utcnow()
        with engine.begin() as conn:  # the rows an API would have written, one per business transaction
            conn.execute(insert(outbox), [
                {"event_id": str(uuid.uuid4()), "event": "policy.enrolled", "version": 1,
                 "payload": json.dumps(PAYLOAD), "correlation_id": "bench", "occurred_at": now, "attempts": 0,
                 "next_attempt_at": now} for _ in range(count)])
        env = {**os.environ, "PORTAL_AMQP_URL": AMQP, "PORTAL_BUS_NAMESPACE": namespace}
        consumer = subprocess.Popen([sys.executable, __file__, "--role", "consumer", "--db", consumer_db,
                                     "--go", go_file], env=env, stderr=subprocess.DEVNULL)
        relay = subprocess.Popen([sys.executable, __file__, "--role", "relay", "--db", producer_db, "--go", go_file],
                                 env=env, stderr=subprocess.DEVNULL)
        while not (Path(go_file + ".relay-ready").exists() and Path(go_file + ".consumer-ready").exists()):
            time.sleep(0.01)
        time.sleep(0.5)  # let the consumer finish subscribing
        consumer_engine = create_engine(consumer_db)
        started = time.perf_counter()
        Path(go_file).touch()
        with consumer_engine.connect() as conn:
            while conn.execute(text("SELECT count(*) FROM applied")).scalar() < count:
                time.sleep(0.02)
                conn.commit()
        elapsed = time.perf_counter() - started
        relay.wait(60)
        relay_seconds = float(Path(go_file + ".relay-seconds").read_text())
        print(f"  (relay alone: {count / relay_seconds:.0f} msg/s confirmed)")
        consumer.terminate()
        consumer.wait(30)
        consumer_engine.dispose()
        engine.dispose()
        for suffix in ("", ".relay-ready", ".consumer-ready", ".relay-seconds"):
            Path(go_file + suffix).unlink(missing_ok=True)
    with connect(AMQP) as conn:
        delete_topology(conn, topology)
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--role", choices=["relay", "consumer"])
    parser.add_argument("--db")
    parser.add_argument("--go")
    args = parser.parse_args()
    if args.role == "relay":
        return role_relay(args.db, args.go)
    if args.role == "consumer":
        return role_consumer(args.db, args.go)

    print(f"bench-bus: {args.count} persistent ~1 KB messages per measurement, broker {AMQP.split('@')[-1]}")
    confirm = raw_publish(min(args.count, 10000), confirms=True)
    noconfirm = raw_publish(args.count, confirms=False)
    e2e = end_to_end(args.count)
    rows = [("raw pika, per-message confirms (baseline)", confirm), ("raw pika, no confirms", noconfirm),
            ("end to end: outbox -> relay -> RabbitMQ -> consumer -> commit", e2e)]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'msg/s':>9}  {'x baseline':>10}")
    for name, rate in rows:
        print(f"{name:<{width}}  {rate:>9.0f}  {rate / confirm:>10.2f}")
    verdict = "OK" if e2e >= 2 * confirm else "BELOW TARGET"
    print(f"target: end to end >= 2.00 x per-message confirms -> {e2e / confirm:.2f} x  [{verdict}]")


if __name__ == "__main__":
    main()
