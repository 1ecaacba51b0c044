"""The identity worker: consumes ``identity.events`` and relays the outbox. ``python -m identity.entrypoints.worker``"""
from portal_common import runner

from .. import SERVICE
from ..adapters import housekeeping
from ..bootstrap import bootstrap


def main() -> None:
    wiring = bootstrap()
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory,
               housekeeping=tuple(housekeeping.rules(wiring.settings)))


if __name__ == "__main__":
    main()
