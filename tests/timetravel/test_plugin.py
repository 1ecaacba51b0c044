"""The travelling clock itself works (make test-timetravel relies on it): clock_check.py, run by pytest at an instant
whose date in Budapest is not the date in UTC, passes there — and fails when the clock is not moved."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _run(**env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PORTAL_TEST_NOW", "TZ")} | env
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                           str(HERE / "clock_check.py")], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_every_test_starts_at_the_chosen_instant_in_the_chosen_zone():
    # 22:59:50 UTC on 30 October 2027 is 00:59:50 on the 31st in Budapest, the night summer time ends
    result = _run(PORTAL_TEST_NOW="2027-10-30T22:59:50Z", TZ="Europe/Budapest")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "time travel: each test starts at 2027-10-30T22:59:50+00:00" in result.stdout
    assert result.stdout.count("PASSED") == 3, result.stdout


def test_an_instant_without_an_offset_is_refused():
    result = _run(PORTAL_TEST_NOW="2027-01-31T23:59:40")
    assert result.returncode != 0
    assert "needs an offset or Z" in result.stdout + result.stderr
