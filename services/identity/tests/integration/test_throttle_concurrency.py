"""Per-client limits hold under concurrency (real PostgreSQL, 40 threads at once from one client): the count and
the new attempt are one step, so no more than the limit ever passes — identification, recovery/resend, failed
logins (password spraying)."""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date

import pytest

from identity.adapters.clock import FakeClock
from identity.adapters.hasher import fast_argon2
from identity.adapters.policy_directory import FakePolicyDirectory
from identity.bootstrap import bootstrap
from identity.domain import commands, errors
from identity.service_layer import handlers

pytestmark = pytest.mark.database

PARALLEL = 40
NOBODY = commands.Identification("KGFB-404", "Nem Létező", "Nem Létező", date(1980, 1, 1), "Sehol", "Senki Anna")


class SlowDirectory(FakePolicyDirectory):
    """Each question takes a while (as over HTTP), so parallel requests surely overlap; counts the questions."""

    def __init__(self):
        super().__init__()
        self.asked = 0
        self._lock = threading.Lock()

    def match(self, ident):
        with self._lock:
            self.asked += 1
        time.sleep(0.05)
        return super().match(ident)


@pytest.fixture
def wiring(database_url):
    w = bootstrap(database_url, directory=SlowDirectory(), clock=FakeClock(), hasher=fast_argon2())
    yield w
    w.engine.dispose()


def in_parallel(call) -> Counter:
    """``call`` from PARALLEL threads released at once; the outcomes by exception class name."""
    outcomes, barrier, lock = Counter(), threading.Barrier(PARALLEL), threading.Lock()

    def run():
        barrier.wait()
        try:
            call()
            outcome = "ok"
        except errors.IdentityError as exc:
            outcome = type(exc).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(outcomes.values()) == PARALLEL
    return outcomes


def test_forty_parallel_identifications_ask_the_directory_at_most_five_times(wiring):
    outcomes = in_parallel(lambda: wiring.handle(handlers.declare, commands.Declare(
        NOBODY, "x@example.com", "hu", client_ip="203.0.113.40")))
    assert outcomes == Counter(IdentificationFailed=5, Throttled=35)
    assert wiring.directory.asked == 5
    other = in_parallel(lambda: wiring.handle(handlers.declare, commands.Declare(
        NOBODY, "x@example.com", "hu", client_ip="203.0.113.41")))
    assert other["IdentificationFailed"] == 5  # per client


def test_forty_parallel_recovery_and_resend_requests_pass_five_times(wiring):
    def request():
        if threading.get_ident() % 2:
            wiring.handle(handlers.request_recovery, commands.RequestRecovery(
                "x@example.com", "+36301234567", client_ip="203.0.113.42"))
        else:
            wiring.handle(handlers.resend_activation, commands.ResendActivation("x@example.com", "203.0.113.42"))

    assert in_parallel(request) == Counter(ok=5, Throttled=35)


def test_forty_parallel_failed_logins_from_one_client_pass_twenty_times(wiring):
    names = iter(f"spray.{i}" for i in range(PARALLEL))
    lock = threading.Lock()

    def spray():
        with lock:
            name = next(names)
        wiring.handle(handlers.login, commands.Login(name, "Tavasz2026!", client_ip="203.0.113.43"))

    assert in_parallel(spray) == Counter(InvalidCredentials=20, Throttled=20)
