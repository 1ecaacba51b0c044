"""``make run``: migrate and start every process of the portal on embedded defaults, seed demo data, stop on Ctrl-C.

Each process is a separate OS process, as in production: S3 (moto), SMTP and SMS sinks, and per service an API
(gunicorn) and a worker, plus the gateway. With ``PORTAL_AMQP_URL`` set the bus is RabbitMQ, otherwise kombu's
filesystem transport under ``var/bus``. Data stays in ``var/`` between runs.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from portal_common import config

from . import procs
from .reaper import RUN_VARIABLE

ROOT = config.REPO_ROOT
#: Shifts every internal port, so a second stack (the browser tests) can run beside a developer's `make run`.
OFFSET = config.env_int("PORTAL_DEVSTACK_PORT_OFFSET", 0)
SERVICES = {name: port + OFFSET for name, port in
            {"identity": 8101, "policies": 8102, "documents": 8103, "notify": 8104}.items()}
HEALTH_PORTS = {name: port + OFFSET for name, port in
                {"identity": 9101, "policies": 9102, "documents": 9103, "notify": 9104, "gateway": 9105}.items()}
S3_PORT, SMTP_PORT, SMS_PORT = 9000 + OFFSET, 1025 + OFFSET, 9025 + OFFSET
COLOURS = ["36", "33", "35", "32", "34", "31", "96", "93", "95", "92", "94", "91"]


def base_env() -> dict:
    http_port = config.env("PORTAL_HTTP_PORT", "8000")
    env = dict(os.environ)
    defaults = {
        "PORTAL_VAR_DIR": str(config.var_dir()),
        "PORTAL_HTTP_PORT": http_port,
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
        "PORTAL_S3_ENDPOINT_URL": f"http://127.0.0.1:{S3_PORT}",
        "PORTAL_S3_ACCESS_KEY_ID": "portal",
        "PORTAL_S3_SECRET_ACCESS_KEY": "portal-secret",
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        "PORTAL_SMS_URL": f"http://127.0.0.1:{SMS_PORT}/sms",
        "PORTAL_API_WORKERS": "1",
        "PYTHONUNBUFFERED": "1",
        **{f"PORTAL_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in SERVICES.items()},
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    return env


def available_services() -> list[str]:
    return [name for name in SERVICES if (ROOT / "services" / name / "pyproject.toml").exists()]


def plan(env: dict) -> list[tuple[str, list[str], dict]]:
    py = sys.executable
    gunicorn = str(Path(py).with_name("gunicorn"))
    planned = [
        ("s3", [py, "-m", "portal_devstack.s3", "--port", str(S3_PORT)], {}),
        ("smtp", [py, "-m", "portal_devstack.smtp", "--port", str(SMTP_PORT)], {}),
        ("sms", [py, "-m", "portal_devstack.sms", "--port", str(SMS_PORT)], {}),
        ("crm", [py, "-m", "portal_devstack.crm"], {}),  # plays the insurer's CRM: crm.events -> var/crm
    ]
    for name in available_services():
        conf = str(ROOT / "services" / name / "gunicorn.conf.py")
        planned.append((f"{name}-api", [gunicorn, "-c", conf, f"{name}.entrypoints.api:create_app()"],
                      {"PORTAL_API_PORT": str(SERVICES[name]), "PORTAL_API_HOST": "127.0.0.1"}))
        planned.append((f"{name}-worker", [py, "-m", f"{name}.entrypoints.worker"],
                      {"PORTAL_HEALTH_PORT": str(HEALTH_PORTS[name])}))
    if (ROOT / "gateway" / "pyproject.toml").exists():
        planned.append(("gateway", [gunicorn, "-c", str(ROOT / "gateway" / "gunicorn.conf.py"), "gateway.app:create_app()"],
                      {"PORTAL_API_PORT": env["PORTAL_HTTP_PORT"], "PORTAL_API_HOST": "127.0.0.1",
                       "PORTAL_HEALTH_PORT": str(HEALTH_PORTS["gateway"]), "PORTAL_HEALTH_HOST": "127.0.0.1"}))
    return planned


def ports(env: dict) -> dict[str, int]:
    """Every TCP port the stack listens on, by the process that needs it."""
    taken = {"s3": S3_PORT, "smtp": SMTP_PORT, "sms": SMS_PORT}
    for name in available_services():
        taken[f"{name}-api"] = SERVICES[name]
        taken[f"{name}-worker (health)"] = HEALTH_PORTS[name]
    if (ROOT / "gateway" / "pyproject.toml").exists():
        taken["gateway"] = int(env["PORTAL_HTTP_PORT"])
        taken["gateway (operations)"] = HEALTH_PORTS["gateway"]
    return taken


def clear_the_way(var_dir: str, needed: dict[str, int], say, grace_s: float = 10.0) -> bool:
    """Before starting: stop what an earlier run of the same var dir left running (its reaper killed too, say),
    then check that every port is free. Returns False, having said why, when the stack cannot start: another
    supervisor still runs on this var dir, or a port is taken by something else.

    A leftover is a process a supervisor started (it carries ``PORTAL_DEVSTACK_RUN``) with this ``PORTAL_VAR_DIR``
    in its environment: a developer's shell that merely exports the same folder is never touched."""
    mine = procs.ancestors()  # never this process nor `make` above it

    def leftovers() -> list[int]:
        return procs.with_env("PORTAL_VAR_DIR", var_dir, exclude=mine, having=RUN_VARIABLE)

    found = leftovers()
    live = sorted({supervisor for pid in found if (supervisor := supervisor_of(pid)) is not None})
    if live:
        say(f"!! another `make run` is using {var_dir}: supervisor {procs.describe(live[0])}. Stop it first "
            f"(Ctrl-C in its terminal, or kill {live[0]}), or give this run another PORTAL_VAR_DIR.")
        return False
    if found:
        say(f"!! stopping {len(found)} process(es) an earlier run of {var_dir} left running (SIGTERM, SIGKILL after "
            f"{grace_s:g} s): {', '.join(procs.describe(pid) for pid in found)}")
        still = procs.stop(leftovers, grace_s)
        if still:
            say(f"!! could not stop: {', '.join(procs.describe(pid) for pid in still)}")
            return False
    busy = {role: port for role, port in needed.items() if not procs.port_free(port)}
    for role, port in busy.items():
        holders = procs.listeners(port)
        who = ", ".join(procs.describe(pid) for pid in holders) if holders else \
            "a process this user cannot see (another user's, or a container's)"
        say(f"!! port {port} ({role}) is taken by {who}")
    if busy:
        say("!! not starting: stop those, or move this stack's ports with PORTAL_DEVSTACK_PORT_OFFSET and "
            "PORTAL_HTTP_PORT")
        return False
    return True


def supervisor_of(pid: int) -> int | None:
    """The pid of the running supervisor that started ``pid``, None when it is gone (the run's token begins with the
    supervisor's pid; it is still the child's parent only while that supervisor lives)."""
    token = procs.env_value(pid, RUN_VARIABLE) or ""
    supervisor = int(token.split("-")[0]) if token.split("-")[0].isdigit() else None
    return supervisor if supervisor is not None and procs.parent(pid) == supervisor else None


try:  # looked up here, once: the child between fork and exec should run as little Python as possible
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal, the reaper still stops the children
    _prctl = None


def _die_with_parent(supervisor_pid: int) -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the supervisor dies, however that happens (the
    children have sessions of their own, so a terminal's Ctrl-C reaches only the supervisor). If the supervisor died
    between the fork and this call, no signal would ever come (the child already has another parent): leave at once.

    Linux sends this signal when the *thread* that forked the child ends, and again at each re-parenting while the
    supervisor's threads exit — a child may get several SIGTERMs in a row (portal_common.shutdown copes). So children
    are started from one thread that lives as long as the supervisor (``make run``: the main thread)."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != supervisor_pid:
        os._exit(1)


@dataclass
class Child:
    name: str
    cmd: list[str]
    env: dict
    colour: str
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0           # in a row: reset once the child has stayed up for ``Supervisor.stable_s``
    restart_at: float | None = None


class Supervisor:
    """Starts the children and keeps them running: a child that dies is started again after a growing pause
    (1 s, 2 s, 4 s … 30 s; back to 1 s once it stayed up a minute), with a line saying so, while the others keep
    serving. Only Ctrl-C (or SIGTERM, SIGHUP) stops the portal: SIGTERM to every child, SIGKILL after
    ``stop_grace_s``.

    Should the supervisor itself die without that stop (SIGKILL), no child outlives it for long: each gets SIGTERM
    from Linux (``PR_SET_PDEATHSIG``), and the reaper process (portal_devstack.reaper) SIGKILLs whatever of the run
    is still there ``stop_grace_s`` later. Every child carries the run's token (``PORTAL_DEVSTACK_RUN``) in its
    environment, which is how the reaper finds them, grandchildren included."""

    def __init__(self, backoff_base_s: float = 1.0, backoff_max_s: float = 30.0, stable_s: float = 60.0,
                 out=None, stop_grace_s: float = 15.0):
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.backoff_base_s, self.backoff_max_s, self.stable_s = backoff_base_s, backoff_max_s, stable_s
        self.stop_grace_s = stop_grace_s
        self.out = out or sys.stdout
        self.run_token = f"{os.getpid()}-{uuid.uuid4().hex}"  # see supervisor_of()
        self.reaper: subprocess.Popen | None = None
        self._reaper_pipe: int | None = None
        self._lock = threading.Lock()

    def _start_reaper(self) -> None:
        read_end, self._reaper_pipe = os.pipe()  # both ends close-on-exec: no child holds the write end
        try:
            self.reaper = subprocess.Popen(
                [sys.executable, "-m", "portal_devstack.reaper", "--fd", str(read_end), "--run", self.run_token,
                 "--grace-s", str(self.stop_grace_s)], cwd=ROOT, pass_fds=(read_end,), start_new_session=True)
        finally:
            os.close(read_end)

    def start(self, name: str, cmd: list[str], env: dict, colour: str) -> Child:
        child = Child(name, cmd, env, colour)
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        with self._lock:
            if self.stopping.is_set():
                return
            if self.reaper is None:
                self._start_reaper()
            child.proc = subprocess.Popen(child.cmd, env={**child.env, RUN_VARIABLE: self.run_token}, cwd=ROOT,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=functools.partial(_die_with_parent, os.getpid()))
            child.started_at, child.restart_at = time.monotonic(), None
        threading.Thread(target=self._pump, args=(child.name, child.proc, child.colour), daemon=True).start()

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _pump(self, name: str, proc: subprocess.Popen, colour: str) -> None:
        prefix = f"\033[{colour}m{name:>16} |\033[0m " if self.out.isatty() else f"{name:>16} | "
        for line in iter(proc.stdout.readline, b""):
            # Keep reading even when the output is gone (a closed terminal): a child writing to a full pipe would
            # block, and a blocked child does not stop on SIGTERM.
            with contextlib.suppress(OSError, ValueError):
                self.out.write(prefix + line.decode("utf-8", "replace"))
                self.out.flush()

    def watch(self) -> None:
        while not self.stopping.wait(0.2):
            self.check()

    def check(self) -> None:
        """One look at every child: schedule a restart for one that died, start those whose pause is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._say(f"!! restarting {child.name} (restart {child.restarts} in a row)")
                    self._spawn(child)
                continue
            if child.proc is None or child.proc.poll() is None or self.stopping.is_set():
                continue
            if now - child.started_at >= self.stable_s:
                child.restarts = 0
            pause = min(self.backoff_max_s, self.backoff_base_s * 2 ** child.restarts)
            child.restarts += 1
            child.restart_at = now + pause
            self._say(f"!! {child.name} exited with code {child.proc.returncode}; restarting it in {pause:g} s, "
                      "the other processes keep running")

    def stop(self) -> None:
        """SIGTERM every process group, wait up to ``stop_grace_s``, then SIGKILL; a second Ctrl-C skips the wait.
        Then the reaper is told that nothing is left to do."""
        self.stopping.set()
        try:
            self._signal_all(signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace_s
            for child in self.children:
                if child.proc is None:
                    continue
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            self._say("stopping at once")
        self._signal_all(signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=5)
        self._dismiss_reaper()

    def _dismiss_reaper(self) -> None:
        with self._lock:
            pipe, self._reaper_pipe = self._reaper_pipe, None
        if pipe is None:
            return
        with contextlib.suppress(OSError):
            os.write(pipe, b"done\n")
        os.close(pipe)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.reaper.wait(timeout=10)

    def _signal_all(self, sig: int) -> None:
        with self._lock:  # no restart slips in between: _spawn checks ``stopping`` under the same lock
            procs = [child.proc for child in self.children if child.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass


def migrate(env: dict) -> None:
    for name in available_services():
        print(f"migrating {name} …", flush=True)
        subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "services" / name / "alembic.ini"),
                        "upgrade", "head"], env=env, cwd=ROOT, check=True)


def wait_ready(urls: list[str], timeout: float = 90, tick=lambda: None) -> list[str]:
    """The URLs still not answering 200 after ``timeout`` seconds. ``tick`` runs after every round of checks: the
    supervisor's ``check``, so a child that crashes while the others start is restarted (and said so) at once, not
    only once the start-up is over."""
    deadline, pending = time.monotonic() + timeout, list(urls)
    while pending and time.monotonic() < deadline:
        for url in list(pending):
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    pending.remove(url)
            except requests.RequestException:
                pass
        tick()
        if pending:
            time.sleep(0.5)
    return pending


def seed_demo(env: dict) -> None:
    marker = config.var_dir() / "demo-seeded"
    if marker.exists():
        return
    from . import demo
    from .s3 import client

    os.environ.update({k: v for k, v in env.items() if k.startswith("PORTAL_")})
    demo.seed(client(env["PORTAL_S3_ENDPOINT_URL"]), env.get("PORTAL_S3_INBOX_BUCKET", "portal-inbox"))
    marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))


def stop_on_signals() -> None:
    """SIGTERM (a harness) and SIGHUP (the terminal closed) stop the portal as Ctrl-C does: KeyboardInterrupt in the
    main thread. Raising is all a handler may safely do: it runs between two bytecodes, maybe inside a lock the main
    thread holds (the old handler's ``Event.set`` could deadlock on a second signal). SIGINT too, explicitly: a
    shell starts a background job (``make run &`` in a script) with SIGINT ignored, and Python keeps that."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)


def main() -> int:
    env = base_env()
    if not clear_the_way(env["PORTAL_VAR_DIR"], ports(env), lambda text: print(text, flush=True)):
        return 1
    supervisor = Supervisor()
    stop_on_signals()
    try:
        migrate(env)
        for index, (name, cmd, extra) in enumerate(plan(env)):
            supervisor.start(name, cmd, {**env, **extra}, COLOURS[index % len(COLOURS)])
        checks = [f"http://127.0.0.1:{port}/readyz" for name, port in SERVICES.items() if name in available_services()]
        checks += [f"http://127.0.0.1:{HEALTH_PORTS[name]}/readyz" for name in available_services()]
        checks.append(f"http://127.0.0.1:{env['PORTAL_HTTP_PORT']}/healthz")
        checks.append(f"http://127.0.0.1:{HEALTH_PORTS['gateway']}/readyz")
        not_ready = wait_ready(checks, tick=supervisor.check)
        if not_ready:
            print(f"!! not ready after 90 s: {', '.join(not_ready)}", flush=True)
        seed_demo(env)
        print_banner(env)
        supervisor.watch()
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print("\nstopping the portal …", flush=True)
        supervisor.stop()
    return 0


def print_banner(env: dict) -> None:
    from .demo import banner_lines

    var = config.var_dir()
    bus = env.get("PORTAL_AMQP_URL") or f"embedded file transport in {var / 'bus'}"
    lines = [
        "",
        "=" * 78,
        f"  Ügyfélportál is running: {env['PORTAL_PUBLIC_URL']}",
        f"  bus: {bus}",
        f"  captured e-mail: {var / 'mail'}   SMS: {var / 'sms'}   (also at {env['PORTAL_PUBLIC_URL']}/dev)",
        "  Ctrl-C stops every process; the data stays in var/ for the next run.",
        "",
        *["  " + line for line in banner_lines()],
        "=" * 78,
        "",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
