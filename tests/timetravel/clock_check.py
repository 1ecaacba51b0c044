"""What the travelling clock moves (``PORTAL_TEST_NOW``, the root conftest.py): run at every instant by
``make test-timetravel``, and once by ``test_plugin.py``. Not collected by plain ``pytest`` (no ``test_`` prefix):
without ``PORTAL_TEST_NOW`` there is nothing to check."""
from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

TARGET = os.environ.get("PORTAL_TEST_NOW")
pytestmark = pytest.mark.skipif(not TARGET, reason="run with PORTAL_TEST_NOW=<instant> (make test-timetravel)")


def _local_zone():
    name = os.environ.get("TZ", "").lstrip(":")
    return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo


def test_each_test_starts_at_the_chosen_instant():
    target = datetime.fromisoformat(TARGET)
    assert timedelta(0) <= datetime.now(timezone.utc) - target < timedelta(seconds=30)
    assert timedelta(0) <= datetime.fromtimestamp(time.time(), timezone.utc) - target < timedelta(seconds=30)


def test_the_local_calendar_is_the_chosen_zone_at_that_instant():
    local = datetime.fromisoformat(TARGET).astimezone(_local_zone())
    assert date.today() == local.date()
    assert time.localtime().tm_mday == local.day and time.localtime().tm_isdst == (local.dst() != timedelta(0))
    assert datetime.now().replace(microsecond=0) - local.replace(tzinfo=None, microsecond=0) < timedelta(seconds=30)


def test_the_clock_ticks_and_sleep_and_monotonic_still_work():
    wall, steady = time.time(), time.monotonic()
    time.sleep(0.2)
    assert time.monotonic() - steady >= 0.2
    assert time.time() - wall >= 0.15  # the travelled clock keeps flowing (tick=True)
