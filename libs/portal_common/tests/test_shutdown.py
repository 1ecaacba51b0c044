"""A worker stops on SIGTERM/SIGINT however many arrive at once (``make run``'s children get one from Linux per exiting
thread of a dying supervisor): the signal handler itself takes no lock."""
from __future__ import annotations

import subprocess
import sys

# The main thread holds a lock that stop() needs — as the first handler's Event.set held the event's lock — while
# five SIGTERMs arrive. A handler that called stop() itself would wait for the main thread, i.e. for itself, forever.
SCRIPT = """
import os, signal, threading, time
from portal_common.shutdown import on_stop_signals

lock, stopped = threading.Lock(), threading.Event()
calls = []

def stop(signum):
    with lock:
        calls.append(signum)
    stopped.set()

on_stop_signals(stop)
with lock:
    for _ in range(5):
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # the handlers run here, in the main thread, while it holds the lock
stopped.wait()
print(f"stopped {len(calls)} time(s), by signal {calls[0]}", flush=True)
"""


def test_many_signals_at_once_stop_the_process_once_and_never_deadlock():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stopped 1 time(s), by signal 15\n"
