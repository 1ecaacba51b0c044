"""The policies worker: consumes ``policies.events`` and relays the outbox. ``python -m policies.entrypoints.worker``"""
from portal_common import runner

from .. import SERVICE
from ..bootstrap import bootstrap


def main() -> None:
    wiring = bootstrap()
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory)


if __name__ == "__main__":
    main()
