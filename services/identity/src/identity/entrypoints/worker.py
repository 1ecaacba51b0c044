"""The identity worker: consumes ``identity.events`` and relays the outbox. ``python -m identity.entrypoints.worker``"""
from portal_common import runner

from .. import SERVICE
from ..adapters import housekeeping
from ..adapters.policy_directory import PolicyDirectory
from ..bootstrap import bootstrap
from ..domain.errors import DirectoryUnavailable
from ..domain.events import LIVE_SUBSCRIBERS_ONLY
from ..settings import Settings


class NoDirectory(PolicyDirectory):
    """The worker identifies nobody, so it holds no credential for the policies API (each pod gets only the secrets
    it uses: the identity-worker Deployment has no PORTAL_IDENTITY_TOKEN, nor PORTAL_USERNAME_HASH_KEY)."""

    def match(self, ident):
        raise DirectoryUnavailable("the identity worker does not call the policies service")


def main() -> None:
    wiring = bootstrap(directory=NoDirectory(), settings=Settings.from_env(with_username_hash_key=False))
    runner.run(SERVICE, wiring.bus, wiring.engine, wiring.session_factory,
               housekeeping=tuple(housekeeping.rules(wiring.settings)), unrouted_ok=LIVE_SUBSCRIBERS_ONLY)


if __name__ == "__main__":
    main()
