"""Least secrets, from the other side: each process of the prod overlay starts under PORTAL_ENV=production with
exactly the environment its Deployment gives it (the ConfigMap plus its own secret keys) - and not without one of
them. So "only the secrets it uses" is not bought with a process that fails at start."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from portal_common import callers, config

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "policies", "documents", "notify")


def random_secret(nbytes: int) -> str:
    """``secrets.token_urlsafe``, drawn again in the rare case (~1 in 600,000) that it reads as a placeholder word
    such as "demo", which production refuses: an operator would draw again too."""
    while config.looks_like_demo(value := secrets.token_urlsafe(nbytes)):
        pass
    return value


TOKENS = {"gateway": random_secret(32), "identity": random_secret(32)}

# Starts the process' code up to the point where it would serve (APIs, the gateway) or connect (workers: runner.run
# is replaced), so every setting it reads at start is read.
START = {
    "api": "from {svc}.entrypoints.api import create_app; create_app()",
    "gateway": "from gateway.app import create_app; create_app()",
    "worker": ("from portal_common import config, runner; runner.run = lambda *a, **k: None; config.amqp_url(); "
               "import {svc}.entrypoints.worker as w; w.main()"),
}


def value_for(variable: str, service: str) -> str:
    """A production-grade value (long, random, real-looking host) for each secret variable."""
    password = random_secret(24)
    if variable.endswith("_DATABASE_URL"):
        return f"postgresql://{service}:{password}@127.0.0.1:1/{service}"
    if variable == "PORTAL_AMQP_URL":
        return f"amqp://{service}:{password}@127.0.0.1:1/%2F"
    if variable == "PORTAL_SMTP_URL":
        return f"smtp://notify:{password}@127.0.0.1:1?starttls=1"
    if variable == "PORTAL_SMS_URL":
        return "https://sms.biztosito.hu/send"
    if variable == "PORTAL_SEALING_KEYS":
        from cryptography.fernet import Fernet

        return f"k1:{Fernet.generate_key().decode()}"
    if variable.endswith("_TOKEN_SHA256"):
        return callers.digest(TOKENS[variable.removeprefix("PORTAL_").removesuffix("_TOKEN_SHA256").lower()])
    if variable.endswith("_TOKEN"):
        return TOKENS[variable.removeprefix("PORTAL_").removesuffix("_TOKEN").lower()]
    return random_secret(32)



def container_env(doc: dict, config_data: dict, tmp_path: Path) -> dict:
    container = doc["spec"]["template"]["spec"]["containers"][0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PROMETHEUS_", "ALEMBIC_"))}
    env.update(config_data)
    service = doc["metadata"]["name"].split("-")[0]
    for item in container.get("env", []):
        env[item["name"]] = item["value"] if "value" in item else value_for(item["name"], service)
    # The prod overlay's placeholders (example.com) are refused by design: stand in real-looking values, and keep
    # everything local (no network here).
    env.update(PORTAL_PUBLIC_URL="https://portal.biztosito.hu", PORTAL_SMTP_FROM="Portál <no-reply@biztosito.hu>",
               PORTAL_S3_ENDPOINT_URL="http://127.0.0.1:1", PORTAL_CONTRACTS_DIR=str(REPO / "contracts"),
               PORTAL_VAR_DIR=str(tmp_path))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def start(doc: dict, env: dict) -> subprocess.CompletedProcess:
    name = doc["metadata"]["name"]
    role = "gateway" if name == "gateway" else name.split("-")[1]
    code = START[role].format(svc=name.split("-")[0])
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def prod(rendered):
    docs = rendered("overlays/prod")
    [config_data] = [d["data"] for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(
        "portal-config")]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    return config_data, deployments


@pytest.mark.parametrize("name", ["gateway", *(f"{s}-{r}" for s in SERVICES for r in ("api", "worker"))])
def test_process_starts_in_production_with_only_its_own_secrets(name, prod, tmp_path):
    config_data, deployments = prod
    env = container_env(deployments[name], config_data, tmp_path)
    assert env["PORTAL_ENV"] == "production"
    result = start(deployments[name], env)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("name", ["identity-api", "policies-api", "notify-worker", "gateway"])
def test_process_refuses_to_start_without_one_of_them(name, prod, tmp_path):
    """The secrets a Deployment gets are really used: dropping any one stops the process, naming it."""
    config_data, deployments = prod
    doc = deployments[name]
    secret_vars = [e["name"] for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]
                   if "secretKeyRef" in e.get("valueFrom", {})]
    for variable in secret_vars:
        env = container_env(doc, config_data, tmp_path)
        del env[variable]
        result = start(doc, env)
        assert result.returncode != 0, f"{name} started without {variable}"
        assert variable in result.stderr, result.stderr[-2000:]
