"""The documents worker: consumes ``documents.events``, relays the outbox and runs the retention sweep.
``python -m documents.entrypoints.worker``

Ingesting a document is mostly waiting for S3 (a server-side COPY, then a 5-byte ranged GET of the copy for the PDF
check) and the database. The shared consumer applies one batch's messages one after the other, so the worker runs
``PORTAL_DOCUMENTS_CONSUMERS`` (4) competing consumers on the same queue (each with its own connection, transaction
and batch) — the same thing as running more worker replicas, in one process, but cheaper: two processes of 2 or four
of 1 ingested slower than one process of 4 in ``make bench-documents`` (each process brings its own relay,
housekeeper and database pings). 8 consumers ingested a little faster than 4 (docs/benchmarks.md), but the
1,000-event chaos run then twice saw a delivery reach the quorum queue's delivery limit after a broker cut: 4 stays
the default until that is understood. Each message is still
applied exactly as the shared consumer promises (idempotent, dead-lettered on a
permanent error); concurrent uploads of one document_id meet at the primary key before either touches the documents
bucket (the row is written before the copy), and the loser, applied again, finds the document stored: a no-op, or a
"conflicting duplicate" dead letter when its bytes differ. A document whose policy is not known yet (its
policy.upserted may sit in another consumer's uncommitted batch) is retried through the broker's retry tiers.
"""
from portal_common import config, logs, runner
from portal_common.bus import load_topology
from portal_common.consumer import Worker

from .. import SERVICE
from ..bootstrap import bootstrap
from ..service_layer.retention import RetentionSweeper


def main() -> None:
    logs.configure_logging(f"{SERVICE}-worker")  # before the first log line (bucket setup)
    wiring = bootstrap()
    settings = wiring.settings
    ready = wiring.ensure_storage()
    sweeper = RetentionSweeper(wiring.uow, wiring.store, wiring.clock, settings.sweep_seconds,
                               ensure_storage=None if ready else wiring.ensure_storage,
                               reminder_days=settings.reminder_days)
    url = config.amqp_url()
    # The embedded file bus is for one consumer; RabbitMQ spreads messages over competing consumers.
    extra_consumers = [Worker(SERVICE, wiring.bus, wiring.session_factory, load_topology(), url=url,
                              batch_size=settings.consumer_batch_size)
                       for _ in range(settings.consumers - 1 if url else 0)]
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory,
               extra_threads=(sweeper, *extra_consumers), batch_size=settings.consumer_batch_size)


if __name__ == "__main__":
    main()
