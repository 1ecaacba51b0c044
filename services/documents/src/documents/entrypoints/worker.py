"""The documents worker: consumes ``documents.events``, relays the outbox and runs the retention sweep.
``python -m documents.entrypoints.worker``

Ingesting a document is mostly waiting for S3 (a server-side COPY, then a 5-byte ranged GET of the copy for the PDF
check) and the database, so the worker applies ``PORTAL_DOCUMENTS_CONSUMERS`` (4) batches at once, each in a thread
and a transaction of its own — the same thing as running more worker replicas, in one process, but cheaper: two
processes of 2 or four of 1 ingested slower than one process of 4 in ``make bench-documents`` (each process brings
its own relay, housekeeper and database pings). They share one connection and one channel to RabbitMQ
(:mod:`portal_common.consumer`): with a channel each, one broker cut handed a held message back once per channel, and
with 8 the quorum queue's delivery limit of 5 dead-lettered messages that never failed (docs/benchmarks.md). Each
message is still applied exactly as the shared consumer promises (idempotent, dead-lettered on a
permanent error). Every batch first locks the names of the rows its events write (``locks`` in bootstrap's EVENTS:
the document, the policy, the customer), sorted, so batches holding the same documents in different orders (a
redelivery after a broker cut, a re-sent upload) wait for each other instead of deadlocking in PostgreSQL; the later
one then finds the document stored: a no-op, or a "conflicting duplicate" dead letter when its bytes differ. The row
is still written before the copy (the claim against a writer without that lock, e.g. on SQLite). A document whose
policy is not known yet (its policy.upserted may sit in another batch not yet committed) is retried through the
broker's retry tiers.
"""
from portal_common import config, logs, runner

from .. import SERVICE
from ..bootstrap import bootstrap
from ..domain.events import LIVE_SUBSCRIBERS_ONLY
from ..service_layer.retention import RetentionSweeper


def main() -> None:
    logs.configure_logging(f"{SERVICE}-worker")  # before the first log line (bucket setup)
    wiring = bootstrap()
    settings = wiring.settings
    ready = wiring.ensure_storage()
    sweeper = RetentionSweeper(wiring.uow, wiring.store, wiring.clock, settings.sweep_seconds,
                               ensure_storage=None if ready else wiring.ensure_storage,
                               reminder_days=settings.reminder_days)
    # The embedded file bus is for one consumer (the worker applies one batch at a time there).
    consumers = settings.consumers if config.amqp_url() else 1
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory, extra_threads=(sweeper,),
               batch_size=settings.consumer_batch_size, consumers=consumers, unrouted_ok=LIVE_SUBSCRIBERS_ONLY)


if __name__ == "__main__":
    main()
