"""Runs a service's worker process: health side port, outbox relay thread, consumer loop, clean shutdown."""
from __future__ import annotations

import threading

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from . import config, logs
from .bus import Publisher, Topology, load_topology
from .consumer import Worker
from .messagebus import MessageBus
from .db import ping
from .deadletters import DeadLetterGauge
from .health import broker_check, serve_health
from .housekeeping import Housekeeper, Rule, plumbing_rules
from .outbox import OutboxRelay
from .shutdown import on_stop_signals

log = logs.get_logger(__name__)


def build_worker(service: str, bus: MessageBus, engine: Engine, session_factory: sessionmaker, *,
                 topology: Topology | None = None, url: str | None = None, batch_size: int = 100,
                 consumers: int = 1, unrouted_ok: tuple[str, ...] = ()):
    """``consumers``: batches applied at once, all from one channel (RabbitMQ only; see portal_common.consumer).
    ``unrouted_ok``: the service's events only live subscribers take (see
    :class:`~portal_common.outbox.OutboxRelay`)."""
    topology = topology or load_topology()
    url = url if url is not None else config.amqp_url()
    worker = Worker(service, bus, session_factory, topology, url=url, batch_size=batch_size, consumers=consumers)
    relay = OutboxRelay(service, session_factory, Publisher(topology, url=url), unrouted_ok=unrouted_ok)
    checks = {
        "database": lambda: ping(engine),
        "broker": broker_check(url),
    }
    return worker, relay, checks


def run(service: str, bus: MessageBus, engine: Engine, session_factory: sessionmaker,
        extra_threads: tuple = (), housekeeping: tuple[Rule, ...] = (), **kwargs) -> None:
    """Block until SIGTERM/SIGINT. ``extra_threads`` are objects with ``run_forever()`` and ``stop()``;
    ``housekeeping`` are the service's own cleanup rules (the outbox and processed-message rules are always on)."""
    logs.configure_logging(f"{service}-worker")
    worker, relay, checks = build_worker(service, bus, engine, session_factory, **kwargs)
    port = config.env_int("PORTAL_HEALTH_PORT", 9100)
    server = serve_health(port, checks)
    housekeeper = Housekeeper(service, session_factory, [*plumbing_rules(), *housekeeping])
    gauge = DeadLetterGauge(service, worker.topology, worker.url)
    loops = [relay, housekeeper, gauge, *extra_threads]
    threads = [threading.Thread(target=loop.run_forever, name=type(loop).__name__, daemon=True) for loop in loops]
    for t in threads:
        t.start()

    def _stop(signum):
        log.info("worker_stopping", signal=signum)
        worker.stop()
        for loop in loops:
            loop.stop()

    on_stop_signals(_stop)
    log.info("worker_started", health_port=port, transport="amqp" if worker.url else "filesystem")
    worker.run_forever()
    for t in threads:
        t.join(timeout=10)
    server.shutdown()

