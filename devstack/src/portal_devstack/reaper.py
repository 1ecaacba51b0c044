"""The supervisor's backstop: stops its children when it dies without stopping them itself (SIGKILL, a crash).

``make run``'s supervisor starts this process first, in a session of its own (a signal to the supervisor's process
group, a closed terminal, does not reach it), and keeps the write end of a pipe to it. A supervisor that stopped its
children writes ``done`` and this exits. If the pipe closes without it, the supervisor is gone and its children are
orphans: each already got SIGTERM from Linux (``PR_SET_PDEATHSIG``), but nobody would SIGKILL one whose graceful
stop hangs — so this does what the supervisor's own stop does: SIGTERM every process of the run (found by the run's
``PORTAL_DEVSTACK_RUN`` token in their environment, grandchildren too), SIGKILL what is left after the grace period,
then exit. ``python -m portal_devstack.reaper --fd N --run TOKEN --grace-s 15``
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from . import procs

RUN_VARIABLE = "PORTAL_DEVSTACK_RUN"


def say(text: str) -> None:
    try:
        print(f"{'reaper':>16} | {text}", flush=True)
    except OSError:  # the terminal that showed the supervisor is gone: stopping the children matters more
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="read end of the supervisor's pipe")
    parser.add_argument("--run", required=True, help="the run's PORTAL_DEVSTACK_RUN token")
    parser.add_argument("--grace-s", type=float, default=15.0)
    args = parser.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGHUP):  # only the pipe tells this process to act
        signal.signal(sig, signal.SIG_IGN)
    with os.fdopen(args.fd, "rb") as pipe:
        if pipe.read().strip().endswith(b"done"):  # read() returns at EOF: when the supervisor closed it or died
            return 0

    def find() -> list[int]:
        return procs.with_env(RUN_VARIABLE, args.run)

    left = find()
    if not left:
        return 0
    say(f"the supervisor is gone without stopping {len(left)} process(es): SIGTERM, SIGKILL after "
        f"{args.grace_s:g} s: {', '.join(procs.describe(pid) for pid in left)}")
    still = procs.stop(find, args.grace_s)
    if still:
        say(f"still running after SIGKILL: {', '.join(procs.describe(pid) for pid in still)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
