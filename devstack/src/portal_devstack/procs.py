"""What ``make run`` (and the benchmarks that start it) read about processes in ``/proc``: which processes carry a
given environment setting (the leftovers of a run: every child inherits ``PORTAL_VAR_DIR``), stopping them
(SIGTERM, then SIGKILL after a grace period) and who listens on a TCP port.

Linux only, like the rest of the devstack; a process of another user is invisible here (its ``environ`` and file
descriptors are not readable), so it is never touched.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path
from typing import Callable, Iterable

PROC = Path("/proc")


def alive(pid: int) -> bool:
    """Running (a zombie, which holds no port and waits only for its parent to read its status, is not)."""
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def parent(pid: int) -> int | None:
    try:
        return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def argv(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def describe(pid: int) -> str:
    """``1234 (python -m identity.entrypoints.worker)`` — what an operator needs to recognise (or kill) it."""
    args = [Path(a).name if "/bin/" in a else a for a in argv(pid)]  # .venv/bin/python, .venv/bin/gunicorn
    return f"{pid} ({' '.join(args)[:200] or '?'})"


def ancestors(pid: int | None = None) -> set[int]:
    """``pid`` (default: this process) and every process above it: ``make`` itself carries a ``PORTAL_VAR_DIR`` given
    on its command line, and must not be taken for a leftover of the run it is starting."""
    found, current = set(), pid or os.getpid()
    while current and current not in found:
        found.add(current)
        current = parent(current)
    return found


def _environ(pid: int) -> list[bytes]:
    """A process's environment as it was started, ``NAME=value`` entries (empty: gone or not readable)."""
    try:
        return (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return []


def env_value(pid: int, name: str) -> str | None:
    """The value of ``name`` in a process's environment as it was started (None: unset or not readable)."""
    prefix = f"{name}=".encode()
    return next((v[len(prefix):].decode("utf-8", "replace") for v in _environ(pid) if v.startswith(prefix)), None)


def with_env(name: str, value: str, exclude: Iterable[int] = (), having: str | None = None) -> list[int]:
    """Running processes whose environment (as they were started) has ``name=value`` (and, with ``having``, that
    variable too, whatever its value)."""
    marker, skip = f"{name}={value}".encode(), {os.getpid(), *exclude}
    prefix = f"{having}=".encode() if having else None
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        environ = _environ(int(entry.name))
        if marker in environ and (prefix is None or any(v.startswith(prefix) for v in environ)) \
                and alive(int(entry.name)):
            pids.append(int(entry.name))
    return sorted(pids)


def stop(find: Callable[[], list[int]], grace_s: float, kill_wait_s: float = 5.0, poll_s: float = 0.2) -> list[int]:
    """SIGTERM every process ``find()`` returns, SIGKILL those still there after ``grace_s`` (``find`` is asked again,
    so a process forked meanwhile is not missed). Returns what is still running after the SIGKILL (normally none)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_wait_s)):
        for pid in find():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while (pids := find()) and time.monotonic() < deadline:
            time.sleep(poll_s)
        if not pids:
            return []
    return pids


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now (a listener on 0.0.0.0 or on ``host`` takes it; a closed
    connection's TIME_WAIT does not, as the servers set SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def listeners(port: int) -> list[int]:
    """Pids of the processes (readable by this user) with a socket listening on TCP ``port`` (IPv4 or IPv6)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                # local_address is HEXIP:HEXPORT; state 0A is LISTEN
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return []
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        if _links(entry / "fd") & inodes:
            pids.append(int(entry.name))
    return sorted(pids)


def _links(fd_dir: Path) -> set[str]:
    found = set()
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):  # closed meanwhile
                found.add(os.readlink(fd))
    return found
