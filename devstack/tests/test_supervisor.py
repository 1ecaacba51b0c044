"""``make run``'s supervisor: a child that dies is started again (with a growing pause and a line saying so); the
others keep running; Ctrl-C still stops everything; no child outlives a supervisor killed in any way; a new run
first stops what an earlier one left running and names a process that holds one of its ports."""
from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from portal_common.testing import wait_until
from portal_devstack import procs
from portal_devstack.__main__ import Supervisor, clear_the_way, wait_ready


class Out(io.StringIO):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text):
        with self.lock:
            return super().write(text)


@pytest.fixture
def supervisor():
    sup = Supervisor(backoff_base_s=0.1, backoff_max_s=0.4, stable_s=3600, out=Out())
    watcher = threading.Thread(target=sup.watch, daemon=True)
    watcher.start()
    yield sup
    sup.stop()
    watcher.join(10)


def test_a_dying_child_is_restarted_with_growing_pauses_while_the_others_keep_running(supervisor, tmp_path):
    runs = tmp_path / "runs"
    crasher = [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"]
    steady = supervisor.start("steady", [sys.executable, "-c", "import time; time.sleep(600)"], {}, "32")
    supervisor.start("crasher", crasher, {}, "31")
    steady_pid = steady.proc.pid

    def pauses():
        return [line.split("restarting it in ")[1].split(" s")[0] for line in supervisor.out.getvalue().splitlines()
                if line.startswith("!! crasher exited with code 3; restarting it in")]
    wait_until(lambda: len(pauses()) >= 4, timeout=60)
    text = supervisor.out.getvalue()
    assert len(runs.read_text()) >= 4  # it really ran again each time
    assert pauses()[:4] == ["0.1", "0.2", "0.4", "0.4"]  # growing, capped
    assert "!! restarting crasher (restart 1 in a row)" in text
    assert steady.proc.pid == steady_pid and steady.proc.poll() is None and not supervisor.stopping.is_set()


def test_a_child_that_crashes_during_the_start_up_is_restarted_while_the_others_are_awaited(tmp_path):
    """make run waits up to 90 s for every process to answer; a crash meanwhile is restarted then, not after."""
    sup = Supervisor(backoff_base_s=0.1, backoff_max_s=0.4, stable_s=3600, out=Out())  # nobody runs watch() yet
    try:
        runs = tmp_path / "runs"
        sup.start("crasher", [sys.executable, "-c", f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"],
                  {}, "31")
        with socket.socket() as unused:  # a port nothing listens on: the start-up never completes
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        wait_ready([f"http://127.0.0.1:{port}/readyz"], timeout=5, tick=sup.check)
        text = sup.out.getvalue()
        assert "!! crasher exited with code 3; restarting it in 0.1 s" in text
        assert "!! restarting crasher (restart 1 in a row)" in text
        assert len(runs.read_text()) >= 2  # it really ran again
    finally:
        sup.stop()


def test_stop_ends_every_child_and_restarts_nothing_after(supervisor, tmp_path):
    children = [supervisor.start(f"c{i}", [sys.executable, "-c", "import time; time.sleep(600)"], {}, "32")
                for i in range(2)]
    supervisor.stop()
    assert all(c.proc.poll() is not None for c in children)
    supervisor.check()
    supervisor.check()
    assert all(c.restart_at is None or c.proc.poll() is not None for c in children)
    assert "restarting" not in supervisor.out.getvalue()


# A child whose graceful stop never ends: it ignores SIGTERM (as a worker stuck in its shutdown did).
STUBBORN = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
            "time.sleep(600)")
# make run's main() in small: the supervisor with its signal handling, the children the stubborn ones above. It
# starts with SIGINT ignored, as a shell starts a background job (`make run &` in a script).
SUPERVISOR = """
import signal, sys
from portal_devstack.__main__ import Supervisor, stop_on_signals
signal.signal(signal.SIGINT, signal.SIG_IGN)
supervisor = Supervisor(stop_grace_s=1.0)
stop_on_signals()
try:
    for i in range(2):
        child = supervisor.start(f"stubborn{i}", [sys.executable, "-c", sys.argv[1]], {"PORTAL_VAR_DIR": sys.argv[2]}, "32")
        print(f"pid {child.proc.pid}", flush=True)
    supervisor.watch()
except KeyboardInterrupt:
    pass
finally:
    supervisor.stop()
"""


def start_supervisor(tmp_path: Path, var_dir: Path) -> tuple[subprocess.Popen, list[int], Path]:
    """A supervisor process running two stubborn children, once both ignore SIGTERM; returns it, their pids, its log."""
    log = tmp_path / "supervisor.log"
    with open(log, "wb") as out:
        sup = subprocess.Popen([sys.executable, "-c", SUPERVISOR, STUBBORN, str(var_dir)], stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: log.read_text().count("| up") == 2, timeout=60)
    pids = [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("pid ")]
    return sup, pids, log


def kill_all(pids) -> None:
    for pid in pids:
        if procs.alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: signal.Signals(s).name)
def test_no_child_outlives_the_supervisor_however_it_is_killed(tmp_path, sig):
    sup, pids, log = start_supervisor(tmp_path, tmp_path / "var")
    try:
        assert len(pids) == 2 and all(procs.alive(pid) for pid in pids)
        sup.send_signal(sig)
        sup.wait(timeout=60)
        # SIGTERM from the supervisor's stop or from Linux (PR_SET_PDEATHSIG) is ignored: only a SIGKILL ends them,
        # from the supervisor's stop or, when it could not stop anything (SIGKILL), from its reaper.
        wait_until(lambda: not any(procs.alive(pid) for pid in pids), timeout=60)
        if sig == signal.SIGKILL:
            assert "the supervisor is gone without stopping 2 process(es)" in log.read_text()
    finally:
        sup.kill()
        sup.wait()
        kill_all(pids)


def test_a_supervisor_stopped_normally_dismisses_its_reaper(supervisor):
    supervisor.start("steady", [sys.executable, "-c", "import time; time.sleep(600)"], {}, "32")
    reaper = supervisor.reaper
    assert reaper is not None and reaper.poll() is None
    supervisor.stop()
    assert reaper.wait(timeout=30) == 0


def _stubborn(env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stdout.readline() == b"up\n"
    return proc


def test_a_new_run_first_stops_what_an_earlier_run_of_its_var_dir_left_running(tmp_path):
    var = str(tmp_path / "var")
    leftover = _stubborn({"PORTAL_VAR_DIR": var, "PORTAL_DEVSTACK_RUN": uuid.uuid4().hex})  # its supervisor is gone
    shell = _stubborn({"PORTAL_VAR_DIR": var})  # a developer's shell exporting the same folder: not the stack's
    other = _stubborn({"PORTAL_VAR_DIR": str(tmp_path / "other"), "PORTAL_DEVSTACK_RUN": uuid.uuid4().hex})
    lines = []
    try:
        assert clear_the_way(var, {}, lines.append, grace_s=1.0) is True
        assert leftover.wait(timeout=60) == -signal.SIGKILL
        assert lines[0].startswith(f"!! stopping 1 process(es) an earlier run of {var} left running")
        assert f"{leftover.pid} (python" in lines[0]
        assert shell.poll() is None and other.poll() is None
    finally:
        for proc in (leftover, shell, other):
            proc.kill()
            proc.wait()


def test_a_new_run_does_not_touch_a_supervisor_still_running_on_its_var_dir(tmp_path):
    var = tmp_path / "var"
    sup, pids, _log = start_supervisor(tmp_path, var)
    lines = []
    try:
        assert clear_the_way(str(var), {}, lines.append, grace_s=1.0) is False
        assert lines == [f"!! another `make run` is using {var}: supervisor {procs.describe(sup.pid)}. Stop it first "
                         f"(Ctrl-C in its terminal, or kill {sup.pid}), or give this run another PORTAL_VAR_DIR."]
        assert all(procs.alive(pid) for pid in pids)
    finally:
        sup.kill()
        sup.wait()
        kill_all(pids)


def test_a_taken_port_is_named_with_the_process_holding_it_and_nothing_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        lines = []
        assert clear_the_way(str(tmp_path / "var"), {"identity-api": port}, lines.append) is False
    assert lines[0].startswith(f"!! port {port} (identity-api) is taken by {os.getpid()} (python")
    assert lines[-1].startswith("!! not starting: stop those, or move this stack's ports")
