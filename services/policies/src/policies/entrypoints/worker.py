"""The policies worker: consumes ``policies.events`` and relays the outbox. ``python -m policies.entrypoints.worker``"""
from portal_common import runner

from .. import SERVICE
from ..bootstrap import bootstrap
from ..domain.events import LIVE_SUBSCRIBERS_ONLY


def main() -> None:
    wiring = bootstrap()
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory, unrouted_ok=LIVE_SUBSCRIBERS_ONLY)


if __name__ == "__main__":
    main()
