"""A worker process built from the shared consumer whose effect is NOT idempotent by itself: it adds 1 to a
counter per message id. Exactly-once in effect means every counter ends at 1. Used by the crash and reconnection
proofs; run as ``python _counter_worker.py`` with COUNTER_DB, COUNTER_SERVICE, COUNTER_EVENTS, PORTAL_AMQP_URL and
PORTAL_BUS_NAMESPACE in the environment."""
import os
import time

from sqlalchemy import Column, Integer, MetaData, String, Table, text

from portal_common import logs
from portal_common.bus import load_topology
from portal_common.consumer import Worker
from portal_common.db import make_engine, make_session_factory, plumbing_tables
from portal_common.testing import plumbing_bus

metadata = MetaData()
Table("applied", metadata, Column("message_id", String(200), primary_key=True), Column("n", Integer, nullable=False))
plumbing_tables(metadata)


def count(data, *, uow, message):
    uow.session.execute(text("INSERT INTO applied (message_id, n) VALUES (:m, 1) "
                             "ON CONFLICT (message_id) DO UPDATE SET n = applied.n + 1"), {"m": message.message_id})
    time.sleep(float(os.environ.get("COUNTER_DELAY", "0")))


def main():
    logs.configure_logging("counter-worker")
    engine = make_engine(os.environ["COUNTER_DB"])
    metadata.create_all(engine)
    bus = plumbing_bus(count, os.environ["COUNTER_EVENTS"].split(","))
    worker = Worker(os.environ["COUNTER_SERVICE"], bus, make_session_factory(engine), load_topology(),
                    url=os.environ["PORTAL_AMQP_URL"], batch_size=int(os.environ.get("COUNTER_BATCH", "50")))
    worker.run_forever()


if __name__ == "__main__":
    main()
