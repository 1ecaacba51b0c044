"""Stopping a process on SIGTERM/SIGINT without doing the work in the signal handler (workers, make run's S3)."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Callable


def on_stop_signals(stop: Callable[[int], None]) -> None:
    """Call ``stop(signum)`` once, on a thread of its own, at the first SIGTERM or SIGINT.

    A Python signal handler runs in the main thread between two bytecodes — also in the middle of the previous
    handler. One that called the loops' ``stop()`` itself (``Event.set`` takes the event's lock) deadlocked when a
    second signal came while the first held that lock: the main thread waited for itself, and the worker never
    stopped. Several signals in a row are normal: ``make run``'s children get a SIGTERM from Linux at each
    re-parenting as the dying supervisor's threads exit (PR_SET_PDEATHSIG). So the handler only writes the signal's
    number to a pipe (no lock), and a thread reads it and stops everything."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # only the first byte matters: a full pipe must not block the handler

    def handler(signum, _frame):
        with contextlib.suppress(OSError):
            os.write(write_end, bytes([signum]))

    def wait_and_stop():
        stop(os.read(read_end, 1)[0])

    threading.Thread(target=wait_and_stop, name="stop-signal", daemon=True).start()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
