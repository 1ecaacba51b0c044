"""Repository-wide pytest setup.

With ``--import-mode=importlib`` pytest names a test module after its path (``gateway.tests.test_forms``); unless the
real ``gateway`` package is imported first, the *directory* ``gateway/`` becomes a namespace package of that name and
hides it. Importing it here, before collection, keeps the installed package in ``sys.modules``.

Time travel (``make test-timetravel``): with ``PORTAL_TEST_NOW=2027-01-31T23:59:40Z`` every test starts with the wall
clock at that instant and the clock keeps ticking (time-machine, ``tick=True``): ``time.time``, ``datetime.now``,
``date.today``, ``time.localtime``/``strftime`` are moved; ``time.monotonic``, ``time.perf_counter`` and
``time.sleep`` are not, so deadlines and waits still work. ``TZ`` chooses the local zone as usual. Only this Python
process travels: PostgreSQL's ``now()``, RabbitMQ, libpq and any subprocess keep the machine's real clock.
"""
import os
from datetime import datetime

import pytest

import gateway  # noqa: F401

_TRAVEL_TO = os.environ.get("PORTAL_TEST_NOW", "").strip()

if _TRAVEL_TO:
    import time_machine

    _DESTINATION = datetime.fromisoformat(_TRAVEL_TO)
    if _DESTINATION.tzinfo is None:
        raise pytest.UsageError(f"PORTAL_TEST_NOW={_TRAVEL_TO!r} needs an offset or Z (e.g. 2027-01-31T23:59:40Z)")

    def pytest_report_header(config):
        return (f"time travel: each test starts at {_DESTINATION.isoformat()} (PORTAL_TEST_NOW), the clock ticking; "
                f"TZ={os.environ.get('TZ', '(unset)')}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(item, nextitem):
        # Each test (its setup, call and teardown) starts at the same instant, so every test meets the boundary
        # just after it, however long the tests before it took. A POSIX timestamp, not the aware datetime: given a
        # datetime in UTC, time-machine also sets TZ=UTC, which would hide the zone under test.
        with time_machine.travel(_DESTINATION.timestamp(), tick=True):
            return (yield)
