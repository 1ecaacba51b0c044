#!/usr/bin/env python3
"""The logged-in customer's ``/home`` next to a bare Flask page, same gunicorn shape, same machine, same run.

``make bench-gateway`` / ``.venv/bin/python bench/bench_gateway.py [--config postgres|embedded|both] [--duration S]``

For each configuration — ``postgres`` (the production-like one: PostgreSQL databases and RabbitMQ, as the e2e tests
run it) and ``embedded`` (``make run``'s defaults: SQLite files and the file bus) — it:

1. starts the whole portal as ``make run`` does (``python -m portal_devstack``: every API under gunicorn, every
   worker, the gateway) on shifted ports with a temporary var/ directory (throwaway databases and bus namespace for
   ``postgres``), and the baseline (``bench/baseline_app.py``) under the gateway's gunicorn configuration;
2. seeds one customer with 3 policies and 20 documents the way the core system does (``policy.upserted``, PDFs in
   the inbox + ``document.uploaded``), registers and activates an account through identity's internal API (link from
   the captured e-mail, initial password from the captured SMS), changes the password and logs in through the
   gateway's login form — the benchmark's cookie is a real logged-in session;
3. runs Debian's ``wrk`` (32 connections, ``--duration`` seconds each) round-robin, ``--rounds`` times: the
   baseline page, the logged-in ``/home``, the anonymous ``/`` and the first ``/documents`` page; a Lua script counts
   every answer that is not 200 (an expired session would be a 302 to the login page: the run fails then);
4. prints the medians of req/s, p50 and p99 for each and the ratio portal / baseline (target for ``/home`` on
   PostgreSQL: >= 0.15 and p99 <= 200 ms).

On ``postgres`` the gateway's cache (gateway/cache.py) is live: the first row of ``/home`` shows it as a customer
sees it who looks at the page again within the cache's bounds. Two more gateways on the same services show what
the page costs without it (``--no-cache-rows`` leaves them out): one that asks identity on every page
(``PORTAL_GATEWAY_SESSION_RECHECK_SECONDS=0``, the lists still kept — a customer clicking slower than every 10 s)
and one with no cache at all (``PORTAL_GATEWAY_CACHE=off``: every page asks all three services, as before it).

Every child process is stopped at the end, also on Ctrl-C or a failure.
"""
from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

from portal_devstack import procs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from procstat import cpu_seconds, pids_named  # noqa: E402 - the folder just put on the path
CONNECTIONS = 32
HOME = "portal /home (logged in)"
TARGET_RATIO, TARGET_P99_MS = 0.15, 200.0
PASSWORD = "Bench-Jelszo-Hosszu-2026"
CUSTOMER = {"name": "Mérő Mária", "birth_name": "Mérő Mária", "birth_date": "1980-05-06", "birth_place": "Eger",
            "mother_name": "Kovács Júlia", "mobile": "+36301119999"}
PRODUCTS = [("kgfb", "bank_transfer"), ("home", "direct_debit"), ("casco", "direct_debit")]
DOCUMENTS = 20
WRK_SCRIPT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not_ok = 0 end
function response(status, headers, body) if status ~= 200 then not_ok = not_ok + 1 end end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("not_ok") end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "not_200": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout))
end
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except (requests.RequestException, OSError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-gateway: gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)


class Stack:
    """The whole portal (``python -m portal_devstack``) on shifted ports, plus the baseline app."""

    def __init__(self, config: str, workers: str, threads: str, stack: contextlib.ExitStack,
                 gateway_workers: str | None = None, gateway_threads: str | None = None, floor: bool = False,
                 cache_rows: bool = False):
        self.config = config
        self.var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-gw-{config}-")))
        offset = 10000 + random.randrange(0, 100) * 100
        self.url = f"http://127.0.0.1:{8000 + offset}"
        self.baseline_url = f"http://127.0.0.1:{8090 + offset}"
        self.floor_url = f"http://127.0.0.1:{8091 + offset}" if floor else None
        # The real gateway again, on the same services, without (part of) its cache (postgres only: the embedded
        # run has no feed, so its gateway never keeps anything anyway)
        every_page = {"PORTAL_GATEWAY_CACHE": "on", "PORTAL_GATEWAY_SESSION_RECHECK_SECONDS": "0"}
        self.variants = ({"session asked on every page": (8094 + offset, every_page),
                          "no cache": (8096 + offset, {"PORTAL_GATEWAY_CACHE": "off"})}
                         if cache_rows and config == "postgres" else {})
        self.internal = {name: f"http://127.0.0.1:{port + offset}" for name, port in
                         {"identity": 8101, "policies": 8102, "documents": 8103}.items()}
        self.env = {**os.environ, "PORTAL_VAR_DIR": str(self.var), "PORTAL_DEVSTACK_PORT_OFFSET": str(offset),
                    "PORTAL_HTTP_PORT": str(8000 + offset), "PORTAL_API_WORKERS": workers,
                    "PORTAL_API_THREADS": threads, "PORTAL_S3_ENDPOINT_URL": f"http://127.0.0.1:{9000 + offset}",
                    # gateway/gunicorn.conf.py: the gateway's and the baseline's shape (the same for both)
                    "PORTAL_GATEWAY_WORKERS": gateway_workers or workers,
                    "PORTAL_GATEWAY_THREADS": gateway_threads or threads}
        for key in [k for k in self.env if k.endswith("_DATABASE_URL") or k in ("PORTAL_AMQP_URL", "PORTAL_BUS_NAMESPACE")]:
            del self.env[key]
        self.bus = "file bus"
        if config == "postgres":
            from portal_common import testing

            if not (testing.reachable(testing.AMQP_URL) and testing.reachable(testing.POSTGRES_URL)):
                raise SystemExit("bench-gateway: the postgres configuration needs RabbitMQ and PostgreSQL "
                                 f"({testing.AMQP_URL}, {testing.POSTGRES_URL})")
            namespace = "bench" + uuid.uuid4().hex[:8]
            self.env.update(PORTAL_AMQP_URL=testing.AMQP_URL, PORTAL_BUS_NAMESPACE=namespace)
            for name in ("identity", "policies", "documents", "notify"):
                url = stack.enter_context(testing.temp_postgres_database(f"benchgw_{name}"))
                self.env[f"PORTAL_{name.upper()}_DATABASE_URL"] = url
            stack.callback(self._delete_topology, testing.AMQP_URL, namespace)
            self.bus = f"RabbitMQ namespace {namespace}"
        self.log_file = open(self.var / "devstack.log", "wb")
        stack.callback(self.log_file.close)
        self.procs = []
        self.apps: dict[int, tuple[int, str]] = {}  # port -> (gunicorn master pid, role) of the apps started here
        stack.callback(self.stop)
        self._start([sys.executable, "-m", "portal_devstack"], self.env)
        self._start_gateway_shaped("baseline_app:app", 8090 + offset, 8093 + offset, "baseline")
        if floor:  # the gateway alone, with in-process fakes (bench/floor_app.py)
            self._start_gateway_shaped("floor_app:create()", 8091 + offset, 8092 + offset, "floor")
        for name, (port, settings) in self.variants.items():
            self._start_gateway_shaped("gateway.app:create_app()", port, port + 1, name.replace(" ", "-"), {
                **settings, "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
                **{f"PORTAL_{service.upper()}_URL": url for service, url in self.internal.items()},
                "PORTAL_NOTIFY_URL": f"http://127.0.0.1:{8104 + offset}"})
        wait_until(lambda: (self.var / "demo-seeded").exists() and self._ok(self.url + "/healthz")
                   and self._ok(self.baseline_url + "/login") and (not floor or self._ok(self.floor_url + "/login"))
                   and all(self._ok(self.variant_url(name) + "/login") for name in self.variants),
                   240, f"the portal to start (log: {self.var})", 1)
        for proc in self.procs:
            if proc.poll() is not None:
                raise SystemExit(f"bench-gateway: a process exited early (log: {self.var / 'devstack.log'})")

    def variant_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.variants[name][0]}"

    def _start_gateway_shaped(self, app: str, port: int, ops_port: int, name: str, extra: dict | None = None) -> None:
        """An app of bench/ under the gateway's own gunicorn configuration (its shape), on ``port``; its ops
        endpoints (gateway/gunicorn.conf.py serves /healthz etc. from the master) and metrics files are this run's
        own, not the default port 9100 and the gateway's metrics folder."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self._start([gunicorn, "-c", str(ROOT / "gateway" / "gunicorn.conf.py"), "--chdir", str(ROOT / "bench"), app],
                    {**self.env, "PORTAL_API_PORT": str(port), "PORTAL_API_HOST": "127.0.0.1",
                     "PORTAL_HEALTH_PORT": str(ops_port), "PORTAL_HEALTH_HOST": "127.0.0.1",
                     "PROMETHEUS_MULTIPROC_DIR": str(self.var / f"prometheus-{name}"),
                     # gateway/gunicorn.conf.py subscribes each worker to the cache's feed: not the baseline's or the
                     # floor's (the gateway's variants say what they want)
                     "PORTAL_GATEWAY_CACHE": "off", **(extra or {})})
        self.apps[port] = (self.procs[-1].pid, name)

    def _start(self, cmd: list[str], env: dict) -> None:
        self.procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log_file, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    @staticmethod
    def _ok(url: str) -> bool:
        return requests.get(url, timeout=3).status_code == 200

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        self._stop_leftovers()

    def _stop_leftovers(self) -> None:
        """Processes still running with this stack's own var folder in their environment: a child of the devstack
        that outlived it would otherwise keep its port for the next run (portal_devstack.procs, as `make run`'s own
        start-up check)."""
        def find() -> list[int]:
            return procs.with_env("PORTAL_VAR_DIR", str(self.var))

        pids = find()
        if not pids:
            return
        log(f"{len(pids)} process(es) of this stack outlived it: SIGTERM, then SIGKILL after 10 s "
            f"({', '.join(procs.describe(pid) for pid in pids)})")
        procs.stop(find, grace_s=10.0)

    @staticmethod
    def _delete_topology(url: str, namespace: str) -> None:
        from portal_common.bus import connect, delete_topology, load_topology

        with connect(url) as conn:
            delete_topology(conn, load_topology(namespace=namespace))

    def workers(self) -> dict[int, str]:
        """gunicorn worker pids of this stack -> role (gateway, identity, ..., baseline, floor), for py-spy."""
        rows = [line.split(None, 2) for line in
                subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines()[1:]]
        masters = {pid: role for pid, role in self.apps.values()}
        for pid, ppid, cmd in rows:
            if int(ppid) == self.procs[0].pid and "gunicorn" in cmd:  # an API's or the gateway's master
                masters[int(pid)] = cmd.split()[-1].split(".")[0]
        return {int(pid): masters[int(ppid)] for pid, ppid, _cmd in rows if int(ppid) in masters}

    def server_workers(self, url: str) -> list[int]:
        """The gunicorn worker pids that serve ``url``: the gateway's, a variant's, the baseline's or the floor's."""
        port = int(url.split(":")[2].split("/")[0])
        role = self.apps[port][1] if port in self.apps else "gateway"
        return [pid for pid, found in self.workers().items() if found == role]

    def pids(self) -> list[int]:
        """Every process of this stack: its children (devstack, the baseline's and the floor's gunicorn) and all their
        descendants (devstack starts each child in a session of its own, so not by session or group)."""
        rows = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.split("\n")
        children: dict[int, list[int]] = {}
        for pid, ppid in (map(int, row.split()) for row in rows if row.strip()):
            children.setdefault(ppid, []).append(pid)
        found, todo = [], [proc.pid for proc in self.procs]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def settle(self, timeout: float = 60.0, window: float = 1.0, busy: float = 0.25) -> None:
        """Wait until the seeding's background work (documents stored and e-mailed, outbox rows relayed) is over:
        the stack's processes together use under ``busy`` of a core for one ``window`` (an idle stack's relays,
        housekeepers and heartbeats use ~10 % of a core together on the 2-core VM)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            before = sum(cpu_seconds(pid) for pid in pids)
            time.sleep(window)
            used = (sum(cpu_seconds(pid) for pid in pids) - before) / window
            if used < busy:
                log(f"the stack is quiet: its {len(pids)} processes used {used:.0%} of a core for {window:.0f} s")
                return
            if time.monotonic() > deadline:
                log(f"the stack still used {used:.0%} of a core {timeout:.0f} s after seeding; measuring anyway")
                return


# --------------------------------------------------------------------------------------------------- seeding
def seed(stack: Stack) -> dict:
    """One customer with 3 policies and 20 documents, registered, activated, logged in. Returns the cookies."""
    # This process publishes as the stack's core system: exactly the stack's PORTAL_* settings (after the postgres
    # configuration, its RabbitMQ URL and namespace must not stay behind for the embedded one's file bus).
    for key in [k for k in os.environ if k.startswith("PORTAL_") and k not in stack.env]:
        del os.environ[key]
    for key, value in stack.env.items():
        if key.startswith("PORTAL_"):
            os.environ[key] = value
    from portal_common.bus import OutgoingMessage, Publisher, load_topology
    from portal_devstack.demo import minimal_pdf
    from portal_devstack.s3 import client as s3_client

    suffix = uuid.uuid4().hex[:8].upper()
    customer_id = f"BENCH-C-{suffix}"
    email_address = f"bench.{suffix.lower()}@example.org"
    holder = {"customer_id": customer_id, **{k: v for k, v in CUSTOMER.items()}, "email": email_address}
    now = datetime.now(timezone.utc).isoformat()
    policies = [{"policy_number": f"{product.upper()}-{suffix}-{n}", "product": product, "payment_method": method,
                 "premium": {"amount": 10000 + n, "frequency": "annual"}, "start_date": "2024-01-01",
                 "status": "active", "policyholder": holder, "updated_at": now}
                for n, (product, method) in enumerate(PRODUCTS)]
    publisher = Publisher(load_topology())
    _publish(publisher, [OutgoingMessage.for_event(str(uuid.uuid4()), "policy.upserted", p, occurred_at=now,
                                                   correlation_id="bench-seed") for p in policies])
    s3 = s3_client(stack.env["PORTAL_S3_ENDPOINT_URL"])
    inbox = stack.env.get("PORTAL_S3_INBOX_BUCKET", "portal-inbox")
    from portal_common.callers import GATEWAY, own_token

    headers = {"X-Service-Token": own_token(GATEWAY)}  # the bench calls the internal APIs as the gateway does
    wait_until(lambda: len(requests.get(f"{stack.internal['policies']}/internal/customers/{customer_id}/policies",
                                        headers=headers, timeout=5).json().get("policies", [])) == 3,
               300, "the 3 policies in the policies service")
    uploads = []
    for n in range(DOCUMENTS):
        document_id = str(uuid.uuid4())
        policy = policies[n % 3]["policy_number"]
        pdf = minimal_pdf(["Bench", f"Dokumentum {n}", policy])
        key = f"inbox/{document_id}.pdf"
        s3.put_object(Bucket=inbox, Key=key, Body=pdf, ContentType="application/pdf")
        event = {"document_id": document_id, "customer_id": customer_id, "policy_number": policy,
                 "doc_type": "premium_notice" if n % 2 else "policy_schedule", "title": f"Dokumentum {n} – {policy}",
                 "uploaded_at": now, "bucket": inbox, "key": key, "content_type": "application/pdf",
                 "size": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()}
        uploads.append(OutgoingMessage.for_event(str(uuid.uuid4()), "document.uploaded", event, occurred_at=now,
                                                 correlation_id="bench-seed"))
    _publish(publisher, uploads)
    publisher.close()

    username = f"bench{suffix.lower()}"
    registration = {"policy_number": policies[0]["policy_number"], **{k: v for k, v in CUSTOMER.items()},
                    "email": email_address, "username": username, "language": "hu", "accept_declaration": True}
    answer = requests.post(f"{stack.internal['identity']}/internal/registrations", json=registration,
                           headers=headers, timeout=30)
    if answer.status_code != 201:
        raise SystemExit(f"bench-gateway: registration failed: {answer.status_code} {answer.text[:300]}")
    account_id = answer.json()["account_id"]
    link = wait_until(lambda: _activation_link(stack.var, email_address), 60, "the activation e-mail")
    token = link.rsplit("/", 1)[1]
    requests.post(f"{stack.internal['identity']}/internal/activations/{token}", headers=headers,
                  timeout=30).raise_for_status()
    initial = wait_until(lambda: _initial_password(stack.var, CUSTOMER["mobile"]), 60, "the initial password SMS")
    requests.post(f"{stack.internal['identity']}/internal/accounts/{account_id}/password", headers=headers,
                  json={"current_password": initial, "new_password": PASSWORD}, timeout=30).raise_for_status()
    wait_until(lambda: requests.get(f"{stack.internal['documents']}/internal/customers/{customer_id}/documents",
                                    params={"limit": 50}, headers=headers, timeout=5).json().get("total") == DOCUMENTS,
               180, f"the {DOCUMENTS} documents in the documents service")

    browser = _form_login(stack.url, username, PASSWORD, "through the gateway")
    # The first page after login adds the CSRF token to the cookie; from then on the cookie stays the same.
    browser.get(stack.url + "/home", timeout=30).raise_for_status()
    home = browser.get(stack.url + "/home", timeout=30)
    if home.cookies:
        raise SystemExit("bench-gateway: /home changes the session cookie on every request")
    shown = home.text.count("doc-list__item")
    if sum(p["policy_number"] in home.text for p in policies) != 3:
        raise SystemExit("bench-gateway: /home does not show the 3 policies")
    log(f"seeded {customer_id}: 3 policies, {DOCUMENTS} documents; /home lists {shown} documents")
    baseline = requests.Session()
    baseline.get(stack.baseline_url + "/login", timeout=30).raise_for_status()
    stack.seeded = {"customer_id": customer_id, "username": username, "headers": headers}
    cookies = {"portal": _cookie_header(browser), "baseline": _cookie_header(baseline)}
    if stack.floor_url:
        cookies["floor"] = _floor_login(stack.floor_url)
    return cookies


def _floor_login(url: str) -> str:
    """Logs in to the gateway-alone app (bench/floor_app.py) through its form, as above; checks its /home shows
    the same shape of page: 3 policies, 5 of the 20 documents."""
    import floor_app as floor  # bench/ is on the path (top of this file)

    browser = _form_login(url, floor.USERNAME, floor.PASSWORD, "to the gateway alone")
    browser.get(url + "/home", timeout=30).raise_for_status()
    for _ in range(4):  # every gunicorn worker knows the fixed session
        home = browser.get(url + "/home", timeout=30)
        if home.status_code != 200 or not home.url.endswith("/home") or home.cookies:
            raise SystemExit(f"bench-gateway: the gateway alone's /home answered {home.status_code} at {home.url}")
    if sum(number in home.text for number, _, _ in floor.POLICIES) != 3 or home.text.count("doc-list__item") != 5:
        raise SystemExit("bench-gateway: the gateway alone's /home does not show 3 policies and 5 documents")
    return _cookie_header(browser)


def _form_login(url: str, username: str, password: str, what: str) -> requests.Session:
    """Logs in through the login form at ``url`` (its CSRF token included), as a browser does; the session holds the
    cookie. Fails unless the login lands on /home."""
    browser = requests.Session()
    form = browser.get(url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    done = browser.post(url + "/login", data={"csrf_token": csrf, "username": username, "password": password},
                        timeout=30)
    if not done.url.endswith("/home") or done.status_code != 200:
        raise SystemExit(f"bench-gateway: login {what} ended at {done.url} ({done.status_code})")
    return browser


def _publish(publisher, messages) -> None:
    failed = {k: v for k, v in publisher.publish_batch(messages).items() if v}
    if failed:
        raise SystemExit(f"bench-gateway: publishing failed: {failed}")


def _cookie_header(session: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _activation_link(var: Path, address: str) -> str | None:
    for path in sorted((var / "mail").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            found = re.search(r"https?://\S+/activate/[\w\-]+", message.get_body(("plain",)).get_content())
            if found:
                return found.group(0)
    return None


def _initial_password(var: Path, mobile: str) -> str | None:
    for path in sorted((var / "sms").glob("*.json")):
        sms = json.loads(path.read_text())
        if sms["to"] == mobile:
            found = re.search(r"jelszava[^:]*:\s*(\S+)", sms["text"])
            if found:
                return found.group(1)
    return None


# --------------------------------------------------------------------------------------------------- measuring
def wrk(url: str, cookie: str | None, duration: int, script: Path) -> dict:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), url]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    found = re.search(r"WRK_JSON (\{.*\})", out)
    if not found:
        raise SystemExit(f"bench-gateway: wrk printed no result for {url}:\n{out}")
    result = json.loads(found.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def measure(stack: Stack, cookies: dict, args, script: Path) -> dict[str, list[dict]]:
    targets = {
        "baseline (bare Flask page, signed-cookie session)": (stack.baseline_url + "/", cookies["baseline"]),
        HOME: (stack.url + "/home", cookies["portal"]),
        # the same session cookie opens on the other gateways (the same secret key, the same identity)
        **{f"portal /home, {name}": (stack.variant_url(name) + "/home", cookies["portal"]) for name in stack.variants},
        **({"gateway alone /home (fakes: no internal hop)": (stack.floor_url + "/home", cookies["floor"])}
           if "floor" in cookies else {}),
        "portal / (anonymous)": (stack.url + "/", None),
        "portal /documents (logged in, first page)": (stack.url + "/documents", cookies["portal"]),
    }
    if args.home_only:
        targets = {name: target for name, target in targets.items() if "/home" in name or name.startswith("baseline")}
    for url, cookie in targets.values():  # warm up every process (imports, template compilation, pools)
        wrk(url, cookie, 2, script)
    results: dict[str, list[dict]] = {name: [] for name in targets}
    servers = {name: stack.server_workers(url) for name, (url, _cookie) in targets.items()}
    for round_ in range(args.rounds):
        for name, (url, cookie) in targets.items():
            before = {pid: cpu_seconds(pid) for pid in servers[name]}
            result = wrk(url, cookie, args.duration, script)
            result["split"] = worker_split(before)
            results[name].append(result)
            log(f"{stack.config} round {round_ + 1}: {name}: {result['rps']:.0f} req/s, p50 "
                f"{result['p50_us'] / 1000:.1f} ms, p99 {result['p99_us'] / 1000:.1f} ms, not 200: {result['not_200']}; "
                f"its workers' CPU {'/'.join(f'{share:.0%}' for share in result['split']) or '?'}")
    return results


def worker_split(before: dict[int, float]) -> list[float]:
    """Each gunicorn worker's share of the CPU its server used since ``before``, largest first. gthread workers
    accept connections from one shared socket as they wake, so with wrk's 32 keep-alive connections one worker can
    end up holding all of them for a round (about a third of the balanced throughput on two cores)."""
    used = [max(cpu_seconds(pid) - start, 0.0) for pid, start in before.items()]
    total = sum(used)
    return sorted((u / total for u in used), reverse=True) if total > 0 else []


#: A round where one worker of several used at least this share of the server's CPU held (nearly) every connection.
LOPSIDED = 0.9


def report(stack: Stack, results: dict[str, list[dict]], load: str, args) -> bool:
    base = statistics.median(r["rps"] for r in next(iter(results.values())))
    print(f"\n{stack.config}: {stack.bus}, databases: "
          f"{'PostgreSQL' if stack.config == 'postgres' else 'SQLite'}; gunicorn gthread "
          f"{args.workers} worker(s) x {args.threads} threads for every API, "
          f"{args.gateway_workers or args.workers} x {args.gateway_threads or args.threads} for the gateway and the "
          f"baseline; "
          f"wrk {CONNECTIONS} connections, {args.duration} s x {args.rounds} rounds (medians); {load}")
    print(f"{'page':<48} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7} {'not 200':>8}")
    ok = True
    for name, runs in results.items():
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50_us"] for r in runs) / 1000
        p99 = statistics.median(r["p99_us"] for r in runs) / 1000
        bad = sum(r["not_200"] + r["socket_errors"] for r in runs)
        print(f"{name:<48} {rps:>8.0f} {p50:>8.1f} {p99:>8.1f} {rps / base:>7.3f} {bad:>8}")
        ok = ok and bad == 0
        if name == HOME:  # the target is the real page's, as the portal runs
            home = (rps / base, p99)
    lopsided = [f"{name} round {n}" for name, runs in results.items() for n, r in enumerate(runs, 1)
                if len(r.get("split", [])) > 1 and r["split"][0] >= LOPSIDED]
    if lopsided:
        print(f"one gunicorn worker did >= {LOPSIDED:.0%} of its server's work (it held the connections; the others "
              f"idled) in: {'; '.join(lopsided)}: those rounds ran at about a third of a balanced one, and the "
              "medians above include them", flush=True)
    verdict = home[0] >= TARGET_RATIO and home[1] <= TARGET_P99_MS
    print(f"target for /home: ratio >= {TARGET_RATIO} and p99 <= {TARGET_P99_MS:.0f} ms -> ratio {home[0]:.3f}, "
          f"p99 {home[1]:.0f} ms  [{'OK' if verdict else 'BELOW TARGET'}]"
          + ("" if ok else "  (some answers were not 200: the figures are not valid)"), flush=True)
    return ok


def _postgres_cpu() -> float:
    return sum(cpu_seconds(pid) for pid in pids_named("postgres"))


def _load_page(stack: Stack, page: str, cookie: str | None, seconds: int) -> int:
    """wrk on ``page`` for ``seconds`` (with the logged-in cookie unless it is None); the number of pages served."""
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", stack.url + page]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    return int(re.search(r"(\d+) requests in", out).group(1))


def _cpu_by_role(workers: dict[int, str], before: dict[int, float], postgres_before: float) -> dict[str, float]:
    by_role: dict[str, float] = {}
    for pid, role in workers.items():
        if role != "baseline":
            by_role[role] = by_role.get(role, 0.0) + cpu_seconds(pid) - before[pid]
    by_role["postgres (all backends)"] = _postgres_cpu() - postgres_before
    return by_role


def profile(stack: Stack, cookie: str, seconds: int, pages: str = "/home") -> None:
    """For each page of ``pages`` (``--profile-page``, comma-separated; /home by default, ``/`` is loaded anonymous as
    in the measurement, any other path logged in): the CPU per page of every role, then py-spy every gunicorn
    process while wrk loads the page (``--profile DIR``: raw collapsed stacks per process and page). The CPU figures
    come from a load without py-spy (which pauses each process to sample it); the second load is the profiled one."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    outdir = Path(stack.args_profile)
    outdir.mkdir(parents=True, exist_ok=True)
    workers = stack.workers()
    for page in pages.split(","):
        page_cookie = None if page == "/" else cookie
        slug = re.sub(r"[^A-Za-z0-9]+", "_", page).strip("_") or "index"
        _load_page(stack, page, page_cookie, 2)  # warm up
        before = {pid: cpu_seconds(pid) for pid in workers}
        postgres_before = _postgres_cpu()
        served = _load_page(stack, page, page_cookie, seconds)
        by_role = _cpu_by_role(workers, before, postgres_before)
        log(f"CPU during {served} pages of {page} in {seconds} s ({served / seconds:.0f} req/s), ms per page: "
            + ", ".join(f"{k} {1000 * v / max(served, 1):.2f}" for k, v in by_role.items())
            + f"; all of them {1000 * sum(by_role.values()) / max(served, 1):.2f}")
        before = {pid: cpu_seconds(pid) for pid in workers}
        postgres_before = _postgres_cpu()
        spies = [subprocess.Popen([spy, "record", "--gil", "-p", str(pid), "-d", str(seconds), "-r", "200", "-f",
                                   "raw", "-o", str(outdir / f"{stack.config}-{slug}-{role}-{pid}.txt")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid, role in workers.items()]
        time.sleep(1)
        served = _load_page(stack, page, page_cookie, seconds)
        for spy_proc in spies:
            spy_proc.wait(seconds + 60)
        by_role = _cpu_by_role(workers, before, postgres_before)
        log(f"CPU seconds during the profiled load ({served} pages of {page}, under py-spy): "
            + ", ".join(f"{k} {v:.1f}" for k, v in by_role.items()))
    log(f"profiles in {outdir}")


def internal(stack: Stack, seconds: int, script: Path) -> None:
    """Each internal read of ``/home`` alone (``--internal``): req/s at 8 connections and the CPU it costs per request
    in the service's gunicorn workers and in PostgreSQL (``/proc`` CPU time over the wrk run / requests answered)."""
    seeded = stack.seeded
    login = requests.post(f"{stack.internal['identity']}/internal/sessions", headers=seeded["headers"], timeout=30,
                          json={"username": seeded["username"], "password": PASSWORD})
    login.raise_for_status()
    customer = seeded["customer_id"]
    endpoints = {
        "identity  GET /internal/sessions/<id>": ("identity", f"/internal/sessions/{login.json()['session_id']}"),
        "policies  GET /internal/customers/<id>/policies": ("policies", f"/internal/customers/{customer}/policies"),
        "documents GET /internal/customers/<id>/documents?limit=5":
            ("documents", f"/internal/customers/{customer}/documents?limit=5"),
        "documents GET /internal/customers/<id>/documents?limit=21":  # what /documents asks
            ("documents", f"/internal/customers/{customer}/documents?limit=21"),
        "identity  GET /internal/declarations/<id>": ("identity", f"/internal/declarations/{customer}"),
        "identity  GET /healthz": ("identity", "/healthz"),
    }
    token = seeded["headers"]["X-Service-Token"]
    workers = stack.workers()
    print(f"\n{stack.config}: internal endpoints alone, wrk 8 connections x {seconds} s; CPU ms per request "
          f"(service workers / PostgreSQL backends); load average {os.getloadavg()[0]:.1f}")
    print(f"{'endpoint':<58} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'svc cpu':>8} {'pg cpu':>7} {'not 200':>8}")
    for name, (service, path) in endpoints.items():
        url = stack.internal[service] + path
        pids = [pid for pid, role in workers.items() if role == service]
        cmd = ["wrk", "-t2", "-c8", "-d2s", "-H", f"X-Service-Token: {token}", "-s", str(script), url]
        subprocess.run(cmd, capture_output=True, timeout=60)  # warm-up
        cpu, pg = sum(cpu_seconds(pid) for pid in pids), _postgres_cpu()
        cmd[3] = f"-d{seconds}s"
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
        cpu, pg = sum(cpu_seconds(pid) for pid in pids) - cpu, _postgres_cpu() - pg
        result = json.loads(re.search(r"WRK_JSON (\{.*\})", out).group(1))
        n = max(result["requests"], 1)
        print(f"{name:<58} {n / (result['duration_us'] / 1e6):>7.0f} {result['p50_us'] / 1000:>7.1f} "
              f"{result['p99_us'] / 1000:>7.1f} {cpu * 1000 / n:>8.2f} {pg * 1000 / n:>7.2f} "
              f"{result['not_200'] + result['socket_errors']:>8}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=("postgres", "embedded", "both"), default="both")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement (10)")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin rounds; medians are printed (3)")
    parser.add_argument("--workers", default=os.environ.get("PORTAL_API_WORKERS", "2"),
                        help="gunicorn workers of every API, the gateway and the baseline (2)")
    parser.add_argument("--threads", default=os.environ.get("PORTAL_API_THREADS", "4"),
                        help="gunicorn threads per worker (4)")
    parser.add_argument("--gateway-workers", help="gunicorn workers of the gateway and the baseline only "
                                                  "(PORTAL_GATEWAY_WORKERS; default: --workers)")
    parser.add_argument("--gateway-threads", help="gunicorn threads of the gateway and the baseline only "
                                                  "(PORTAL_GATEWAY_THREADS; default: --threads)")
    parser.add_argument("--home-only", action="store_true", help="measure the baseline and /home only (a quick look)")
    parser.add_argument("--profile", metavar="DIR", help="instead of measuring: py-spy every gunicorn worker "
                                                         "while /home is loaded; raw collapsed stacks into DIR")
    parser.add_argument("--profile-page", default="/home", metavar="PATH",
                        help="the pages --profile loads, comma-separated: /home (default), / (anonymous, as "
                        "measured), /documents …")
    parser.add_argument("--floor", action="store_true", help="also measure the gateway alone: /home rendered by the "
                        "real gateway app with in-process fakes for identity, policies and documents (bench/floor_app.py):"
                        " the ceiling of any design that renders the page in the gateway")
    parser.add_argument("--no-cache-rows", action="store_true", help="leave out the two /home rows of gateways "
                        "without (part of) their cache (postgres)")
    parser.add_argument("--internal", action="store_true", help="instead of measuring the pages: each internal read "
                        "of /home alone (8 connections), with its CPU per request in the service and in PostgreSQL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench-gateway needs wrk: sudo apt-get install wrk (make bench-gateway does, as root)")
    if args.profile and not (shutil.which("py-spy") or Path(sys.executable).with_name("py-spy").exists()):
        raise SystemExit("--profile needs py-spy, which is not a project dependency: .venv/bin/pip install py-spy")
    configs = ["postgres", "embedded"] if args.config == "both" else [args.config]
    all_ok = True
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "count.lua"
        script.write_text(WRK_SCRIPT)
        for config in configs:
            with contextlib.ExitStack() as stack_cleanup:
                log(f"starting the portal ({config}) …")
                stack = Stack(config, args.workers, args.threads, stack_cleanup, args.gateway_workers,
                              args.gateway_threads, floor=args.floor, cache_rows=not args.no_cache_rows)
                try:
                    cookies = seed(stack)
                except SystemExit:
                    lines = (stack.var / "devstack.log").read_text(errors="replace").splitlines()
                    print("\n".join(line for line in lines if '"error"' in line or '"warning"' in line
                                     or "Traceback" in line)[-6000:], file=sys.stderr)
                    raise
                stack.settle()
                if args.internal:
                    internal(stack, args.duration, script)
                    continue
                if args.profile:
                    stack.args_profile = args.profile
                    profile(stack, cookies["portal"], args.duration, args.profile_page)
                    continue
                load_before = os.getloadavg()[0]
                results = measure(stack, cookies, args, script)
                load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
                all_ok = report(stack, results, load, args) and all_ok
                log(f"stopping the portal ({config}) …")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
