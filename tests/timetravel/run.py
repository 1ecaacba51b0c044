"""``make test-timetravel``: the unit tests (``make test-fast``'s selection) run as if the wall clock stood at risky
instants: the last seconds of a 31-day month, of a leap February, of a year, Budapest's midnight and both of its DST
switches, and today in zones far from UTC. Each test starts at the instant and the clock ticks on (PORTAL_TEST_NOW,
the root conftest.py); ``time.monotonic`` and ``time.sleep`` are not moved, so waits and deadlines still work.

    python tests/timetravel/run.py                       # every instant, every unit test (~1 min per instant)
    python tests/timetravel/run.py --only feb29 dst-autumn -- services/documents/tests -x

Only this Python process travels: PostgreSQL's now(), RabbitMQ, OpenSSL's certificate check and any subprocess read
the machine's real clock, so the broker and database tests are left out (a disagreement between the two clocks there
is an artefact of the travel, not a bug). Logs: var/timetravel/<label>.log. Exit status 1 if any instant failed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import tomllib
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / "var" / "timetravel"
UNIT = "not broker and not database and not browser"


def instants(today: date) -> list[tuple[str, str, str]]:
    """(label, PORTAL_TEST_NOW, TZ)."""
    return [
        ("jan31", "2027-01-31T23:59:40Z", "UTC"),  # the last seconds of a 31-day month
        ("feb29", "2028-02-29T23:59:40Z", "UTC"),  # the end of a leap February
        ("year-end", "2026-12-31T23:59:40Z", "UTC"),
        ("budapest-midnight", "2026-12-05T22:59:40Z", "Europe/Budapest"),  # UTC's date is not Budapest's
        ("dst-spring", "2027-03-28T00:59:40Z", "Europe/Budapest"),  # 02:00 CET -> 03:00 CEST
        ("dst-autumn", "2027-10-31T00:59:40Z", "Europe/Budapest"),  # 03:00 CEST -> 02:00 CET
        # today, in zones whose date is not Budapest's: a day ahead at Kiritimati (UTC+14), a day behind in LA
        ("kiritimati", f"{today.isoformat()}T12:00:00Z", "Pacific/Kiritimati"),
        ("los-angeles", f"{today.isoformat()}T07:30:00Z", "America/Los_Angeles"),
    ]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="LABEL", help="run these instants only")
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    chosen = [i for i in instants(date.today()) if not args.only or i[0] in args.only]
    if not chosen:
        parser.error(f"no instant called {args.only}; known: {[i[0] for i in instants(date.today())]}")
    paths = pytest_args or tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "testpaths"]
    LOGS.mkdir(parents=True, exist_ok=True)
    failed = []
    for label, instant, zone in chosen:
        env = {**os.environ, "PORTAL_TEST_NOW": instant, "TZ": zone}
        command = [sys.executable, "-m", "pytest", "-q", "-m", UNIT, *paths,
                   str(REPO / "tests" / "timetravel" / "clock_check.py")]
        started = time.monotonic()
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        log = LOGS / f"{label}.log"
        log.write_text(result.stdout + result.stderr)
        lines = result.stdout.strip().splitlines()
        print(f"{label:18} {instant:22} TZ={zone:20} {time.monotonic() - started:5.0f} s  "
              f"{lines[-1] if lines else '(no output)'}", flush=True)
        if result.returncode != 0:
            failed.append(label)
            for line in lines:
                if re.match(r"(FAILED|ERROR) ", line):
                    print(f"    {line}")
    if failed:
        print(f"failed at: {', '.join(failed)} (logs in {LOGS.relative_to(REPO)}/)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
