"""The identity worker: consumes ``identity.events`` and relays the outbox. ``python -m identity.entrypoints.worker``"""
from portal_common import runner

from .. import SERVICE
from ..adapters import housekeeping
from ..bootstrap import EVENT_HANDLERS, bootstrap


def main() -> None:
    wiring = bootstrap()
    runner.run(SERVICE, EVENT_HANDLERS, wiring.engine, wiring.session_factory,
               housekeeping=tuple(housekeeping.rules(wiring.settings)))


if __name__ == "__main__":
    main()
