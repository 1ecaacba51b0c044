#!/usr/bin/env python3
"""What one login costs, next to one bare argon2 verification, in the same run.

``make bench-login`` / ``.venv/bin/python bench/bench_login.py [--rounds 3] [--logins 30]``

1. A throwaway PostgreSQL database (a SQLite file when PostgreSQL is not reachable), migrated with identity's Alembic
   scripts; identity's real API (``create_app``, production argon2id parameters, the system clock) served over HTTP
   on 127.0.0.1 by a threaded WSGI server in this process; the per-client login limit raised so the benchmark's one
   client is never refused.
2. Four kinds of login, interleaved (one of each in turn, so all four see the same machine load), each a
   ``POST /internal/sessions`` as the gateway sends it:
   ``known`` — an active account with the right password (201, a session written);
   ``unknown`` — a username nobody has (401, then 423 once the name locks: counted like an account);
   ``locked`` — an active account locked by three wrong passwords, with its right password (423);
   ``pending otp`` — an account with a pending one-time password (forgotten credentials), with its password (201).
   Between them, one bare ``argon2.PasswordHasher().verify`` of a stored hash: the baseline.
3. The same known login through the gateway as a browser does it (in-process WSGI, CSRF off, identity over HTTP):
   ``GET /login`` (the form) and ``POST /login`` (-> 302 to the home page, the encrypted session cookie set). The
   home page the redirect leads to is the page benchmark's business (issue 9, ``make bench-gateway``), not timed here.
4. Prints per round the median, p10 and p90 of each (ms) and the ratio of each median to the baseline's; then the
   median of the rounds. The target: every identity ratio <= 1.2, and the four medians close to each other (ASVS
   6.3.8).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import requests
from argon2 import PasswordHasher as Argon2
from werkzeug.serving import make_server

from identity.adapters.hasher import Argon2Hasher
from identity.adapters.policy_directory import FakePolicyDirectory, Policyholder
from identity.domain import commands, errors
from identity.entrypoints.api import create_app
from identity.service_layer import handlers
from identity.settings import Settings
from portal_common.testing import POSTGRES_URL, caller_headers, free_port, migrate, temp_postgres_database

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "services" / "identity" / "alembic.ini"
PASSWORD = "Egy hosszu es jo jelmondat 2026"
CASES = ("known", "unknown", "locked", "pending otp")


def postgres_reachable() -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(POSTGRES_URL)
    with contextlib.suppress(OSError), socket.create_connection((parsed.hostname, parsed.port or 5432), timeout=1):
        return True
    return False


@contextlib.contextmanager
def database():
    if postgres_reachable():
        with temp_postgres_database("bench_login") as url:
            migrate(ALEMBIC_INI, url)
            yield url, "PostgreSQL"
    else:  # the embedded run's SQLite
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/identity.db"
            migrate(ALEMBIC_INI, url)
            yield url, "SQLite (PostgreSQL not reachable)"


def ident(n: int) -> commands.Identification:
    return commands.Identification(f"BENCH-{n}", f"Mérő {n}", f"Mérő {n}", date(1980, 1, 1 + n), "Győr", "Anya")


def set_up(wiring) -> dict[str, str]:
    """Three active accounts with PASSWORD: one plain, one locked, one with a pending one-time password."""
    names = {}
    for n, case in enumerate(("known", "locked", "pending otp")):
        username = f"bench.{n}.{uuid.uuid4().hex[:6]}"
        wiring.directory.add(ident(n), Policyholder(f"C-B{n}", None, None, True))
        email = f"{username}@example.com"
        account = wiring.handle(handlers.register, commands.Register(
            ident(n), email, "+36301234567", username, "hu", f"10.0.0.{n}", accept_declaration=True))
        with wiring.uow_factory() as uow:  # the activation link's token is only in the outbox: set the password here
            stored = uow.repo.get_account(account.account_id)
            stored.activate(wiring.hasher.hash(PASSWORD), wiring.clock.now())
            stored.must_change_password = False
            uow.commit()
        if case == "locked":
            for _ in range(wiring.settings.lockout_threshold):
                with contextlib.suppress(errors.IdentityError):
                    wiring.handle(handlers.login, commands.Login(username, "wrong password 1234"))
        if case == "pending otp":
            wiring.handle(handlers.request_recovery, commands.RequestRecovery(email, "+36301234567", "10.0.0.9"))
        names[case] = username
    return names


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


GATEWAY_CASES = ("gateway GET", "gateway POST")


def one_round(session: requests.Session, url: str, names: dict[str, str], logins: int, stored_hash: str,
              gateway) -> dict:
    argon2 = Argon2()
    timings: dict[str, list[float]] = {case: [] for case in (*CASES, *GATEWAY_CASES, "argon2")}
    expected = {"known": 201, "unknown": (401, 423), "locked": 423, "pending otp": 201}
    for _ in range(logins):
        for case in CASES:
            username = names.get(case) or f"nobody.{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            response = session.post(url, json={"username": username, "password": PASSWORD})
            timings[case].append((time.perf_counter() - started) * 1000)
            want = expected[case]
            assert response.status_code in (want if isinstance(want, tuple) else (want,)), (case, response.text)
        started = time.perf_counter()
        assert gateway.get("/login").status_code == 200
        timings["gateway GET"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        response = gateway.post("/login", data={"username": names["known"], "password": PASSWORD})
        timings["gateway POST"].append((time.perf_counter() - started) * 1000)
        assert response.status_code == 302 and "/home" in response.headers["Location"], response.status_code
        started = time.perf_counter()
        argon2.verify(stored_hash, PASSWORD)
        timings["argon2"].append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--logins", type=int, default=30, help="logins of each kind per round")
    args = parser.parse_args()
    settings = Settings(login_max_failures_per_client=10**9)
    with database() as (db_url, db_name):
        app = create_app(db_url, directory=FakePolicyDirectory(), hasher=Argon2Hasher(), settings=settings)
        # The apps log every request at INFO as in production (part of what a login costs), into a file instead
        # of between the results.
        log_path = Path(tempfile.gettempdir()) / f"bench-login-{os.getpid()}.log"
        log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open until the process ends
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(log_file)
        wiring = app.extensions["identity"]
        names = set_up(wiring)
        port = free_port()
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        session = requests.Session()
        session.headers.update({**caller_headers(), "X-Client-IP": "198.51.100.1"})
        url = f"http://127.0.0.1:{port}/internal/sessions"
        os.environ["PORTAL_IDENTITY_URL"] = f"http://127.0.0.1:{port}"
        from gateway.app import create_app as create_gateway

        gateway = create_gateway({"WTF_CSRF_ENABLED": False}).test_client()
        stored_hash = Argon2().hash(PASSWORD)
        one_round(session, url, names, 3, stored_hash, gateway)  # warm-up: connections, the dummy hash, imports
        print(f"identity login over HTTP on {db_name}, {args.logins} logins of each kind per round; "
              f"baseline: one argon2id verification ({Argon2().time_cost} passes, {Argon2().memory_cost} KiB); "
              f"the services' log lines: {log_path}")
        medians: dict[str, list[float]] = {case: [] for case in (*CASES, *GATEWAY_CASES, "argon2")}
        for n in range(1, args.rounds + 1):
            timings = one_round(session, url, names, args.logins, stored_hash, gateway)
            base = statistics.median(timings["argon2"])
            print(f"\nround {n}            median      p10      p90   ratio to argon2")
            for case in (*CASES, *GATEWAY_CASES, "argon2"):
                values = timings[case]
                median = statistics.median(values)
                medians[case].append(median)
                print(f"  {case:<14} {median:8.1f} ms {percentile(values, .1):7.1f} {percentile(values, .9):8.1f}"
                      f"   {median / base:5.2f}")
        server.shutdown()
        wiring.engine.dispose()
    # Each round compares with its own baseline (the same load); the rounds' ratios are then summarised.
    ratios = {case: statistics.median(m / b for m, b in zip(medians[case], medians["argon2"]))
              for case in (*CASES, *GATEWAY_CASES)}
    print(f"\nmedian of {args.rounds} rounds: argon2 {statistics.median(medians['argon2']):.1f} ms; " + "; ".join(
        f"{case} {statistics.median(medians[case]):.1f} ms ({ratios[case]:.2f}x)" for case in (*CASES, *GATEWAY_CASES)))
    worst = max(ratios[case] for case in CASES)
    print(f"worst identity ratio {worst:.2f} (target <= 1.20): {'met' if worst <= 1.2 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
