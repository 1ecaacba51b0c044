"""``make run``: migrate and start every process of the portal on embedded defaults, seed demo data, stop on Ctrl-C.

Each process is a separate OS process, as in production: S3 (moto), SMTP and SMS sinks, and per service an API
(gunicorn) and a worker, plus the gateway. With ``PORTAL_AMQP_URL`` set the bus is RabbitMQ, otherwise kombu's
filesystem transport under ``var/bus``. Data stays in ``var/`` between runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from portal_common import config

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
    procs = [
        ("s3", [py, "-m", "portal_devstack.s3", "--port", str(S3_PORT)], {}),
        ("smtp", [py, "-m", "portal_devstack.smtp", "--port", str(SMTP_PORT)], {}),
        ("sms", [py, "-m", "portal_devstack.sms", "--port", str(SMS_PORT)], {}),
        ("crm", [py, "-m", "portal_devstack.crm"], {}),  # plays the insurer's CRM: crm.events -> var/crm
    ]
    for name in available_services():
        conf = str(ROOT / "services" / name / "gunicorn.conf.py")
        procs.append((f"{name}-api", [gunicorn, "-c", conf, f"{name}.entrypoints.api:create_app()"],
                      {"PORTAL_API_PORT": str(SERVICES[name]), "PORTAL_API_HOST": "127.0.0.1"}))
        procs.append((f"{name}-worker", [py, "-m", f"{name}.entrypoints.worker"],
                      {"PORTAL_HEALTH_PORT": str(HEALTH_PORTS[name])}))
    if (ROOT / "gateway" / "pyproject.toml").exists():
        procs.append(("gateway", [gunicorn, "-c", str(ROOT / "gateway" / "gunicorn.conf.py"), "gateway.app:create_app()"],
                      {"PORTAL_API_PORT": env["PORTAL_HTTP_PORT"], "PORTAL_API_HOST": "127.0.0.1",
                       "PORTAL_HEALTH_PORT": str(HEALTH_PORTS["gateway"]), "PORTAL_HEALTH_HOST": "127.0.0.1"}))
    return procs


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the supervisor dies, however that happens (the
    children have sessions of their own, so a terminal's Ctrl-C reaches only the supervisor)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


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
    serving. Only Ctrl-C (or SIGTERM) stops the portal."""

    def __init__(self, backoff_base_s: float = 1.0, backoff_max_s: float = 30.0, stable_s: float = 60.0,
                 out=None):
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.backoff_base_s, self.backoff_max_s, self.stable_s = backoff_base_s, backoff_max_s, stable_s
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def start(self, name: str, cmd: list[str], env: dict, colour: str) -> Child:
        child = Child(name, cmd, env, colour)
        self.children.append(child)
        self._spawn(child)
        return child

    def _spawn(self, child: Child) -> None:
        with self._lock:
            if self.stopping.is_set():
                return
            child.proc = subprocess.Popen(child.cmd, env=child.env, cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent)
            child.started_at, child.restart_at = time.monotonic(), None
        threading.Thread(target=self._pump, args=(child.name, child.proc, child.colour), daemon=True).start()

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _pump(self, name: str, proc: subprocess.Popen, colour: str) -> None:
        prefix = f"\033[{colour}m{name:>16} |\033[0m " if self.out.isatty() else f"{name:>16} | "
        for line in iter(proc.stdout.readline, b""):
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
        """SIGTERM every process group, wait up to 15 s, then SIGKILL; a second Ctrl-C skips the wait."""
        self.stopping.set()
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + 15
        try:
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


def wait_ready(urls: list[str], timeout: float = 90) -> list[str]:
    deadline, pending = time.monotonic() + timeout, list(urls)
    while pending and time.monotonic() < deadline:
        for url in list(pending):
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    pending.remove(url)
            except requests.RequestException:
                pass
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


def main() -> int:
    env = base_env()
    supervisor = Supervisor()
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stopping.set())
    try:
        migrate(env)
        for index, (name, cmd, extra) in enumerate(plan(env)):
            supervisor.start(name, cmd, {**env, **extra}, COLOURS[index % len(COLOURS)])
        checks = [f"http://127.0.0.1:{port}/readyz" for name, port in SERVICES.items() if name in available_services()]
        checks += [f"http://127.0.0.1:{HEALTH_PORTS[name]}/readyz" for name in available_services()]
        checks.append(f"http://127.0.0.1:{env['PORTAL_HTTP_PORT']}/healthz")
        checks.append(f"http://127.0.0.1:{HEALTH_PORTS['gateway']}/readyz")
        not_ready = wait_ready(checks)
        if not_ready:
            print(f"!! not ready after 90 s: {', '.join(not_ready)}", flush=True)
        seed_demo(env)
        print_banner(env)
        supervisor.watch()
    except KeyboardInterrupt:
        pass
    finally:
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
