"""The notify worker: consumes ``notify.events``, sends deliveries and relays the outbox.

``python -m notify.entrypoints.worker``. Three loops in one process: the consumer (records deliveries), the
delivery loop (sends them) and the outbox relay (publishes ``notification.failed``).
"""
from portal_common import runner

from .. import SERVICE
from ..adapters import housekeeping
from ..bootstrap import bootstrap, build_delivery_loop


def main() -> None:
    wiring = bootstrap()
    loop = build_delivery_loop(wiring)
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory, extra_threads=(loop,),
               housekeeping=tuple(housekeeping.rules()))


if __name__ == "__main__":
    main()
