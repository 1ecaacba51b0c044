"""``make run``'s supervisor: a child that dies is started again (with a growing pause and a line saying so); the
others keep running; Ctrl-C still stops everything."""
from __future__ import annotations

import io
import sys
import threading

import pytest

from portal_common.testing import wait_until
from portal_devstack.__main__ import Supervisor


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


def test_stop_ends_every_child_and_restarts_nothing_after(supervisor, tmp_path):
    children = [supervisor.start(f"c{i}", [sys.executable, "-c", "import time; time.sleep(600)"], {}, "32")
                for i in range(2)]
    supervisor.stop()
    assert all(c.proc.poll() is not None for c in children)
    supervisor.check()
    supervisor.check()
    assert all(c.restart_at is None or c.proc.poll() is not None for c in children)
    assert "restarting" not in supervisor.out.getvalue()
