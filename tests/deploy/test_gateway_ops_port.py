"""The gateway under gunicorn, as in the image: pages on the public port, /readyz and /metrics on the operations
port only (issue 8 item 6), and readiness that does not depend on the services (issue 11 item 3)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from portal_common.testing import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def gateway(tmp_path):
    public, ops, dead = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PROMETHEUS_"))}
    env.update(PORTAL_API_PORT=str(public), PORTAL_API_HOST="127.0.0.1", PORTAL_HEALTH_PORT=str(ops),
               PORTAL_HEALTH_HOST="127.0.0.1", PORTAL_VAR_DIR=str(tmp_path), PORTAL_API_WORKERS="2",
               # every service is down: the gateway must still be ready
               **{f"PORTAL_{svc}_URL": f"http://127.0.0.1:{dead}" for svc in ("IDENTITY", "POLICIES", "DOCUMENTS",
                                                                               "NOTIFY")})
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen([gunicorn, "-c", str(REPO / "gateway" / "gunicorn.conf.py"), "gateway.app:create_app()"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        def ready():
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                return requests.get(f"http://127.0.0.1:{ops}/readyz", timeout=5)
            except requests.RequestException:
                return None

        yield {"public": f"http://127.0.0.1:{public}", "ops": f"http://127.0.0.1:{ops}",
               "ready": wait_until(ready, timeout=30, message="gateway operations port")}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def test_operations_endpoints_are_on_their_own_port(gateway):
    assert gateway["ready"].status_code == 200
    assert gateway["ready"].json()["checks"] == {"gateway": "ok"}  # services down: still ready
    for path in ("/readyz", "/metrics"):
        assert requests.get(gateway["public"] + path, timeout=10).status_code == 404, path
    assert requests.get(gateway["public"] + "/healthz", timeout=10).status_code == 200
    assert requests.get(gateway["ops"] + "/healthz", timeout=10).status_code == 200


def test_metrics_on_the_operations_port_count_public_requests(gateway):
    for _ in range(3):
        assert requests.get(gateway["public"] + "/", timeout=10).status_code == 200

    def counted():
        body = requests.get(gateway["ops"] + "/metrics", timeout=10).text
        lines = [line for line in body.splitlines() if line.startswith("portal_http_requests_total{")
                 and 'endpoint="/"' in line and 'service="gateway"' in line and 'status="200"' in line]
        return lines and float(lines[0].rsplit(" ", 1)[1]) >= 3

    wait_until(counted, timeout=10, message="gateway request counter on the operations port")
