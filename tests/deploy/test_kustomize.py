"""deploy/k8s: every kustomization's files exist and the base has the expected objects, probes and limits.

`kubectl kustomize` renders the overlays when kubectl is installed; the structural checks below need PyYAML only.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "policies", "documents", "notify")

K8S = REPO / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))


def load_all(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def referenced_files(kustomization: dict) -> list[str]:
    refs = list(kustomization.get("resources", []))
    refs += list(kustomization.get("components", []))
    refs += list(kustomization.get("patchesStrategicMerge", []))
    refs += [p["path"] for p in kustomization.get("patches", []) if "path" in p]
    refs += [p["path"] for p in kustomization.get("patchesJson6902", []) if "path" in p]
    for generator in kustomization.get("configMapGenerator", []) + kustomization.get("secretGenerator", []):
        refs += list(generator.get("envs", []))
        refs += [f.split("=", 1)[-1] for f in generator.get("files", [])]
    return refs


def test_there_are_a_base_and_two_overlays():
    dirs = {p.parent.relative_to(K8S).as_posix() for p in KUSTOMIZATIONS}
    assert {"base", "overlays/dev", "overlays/prod"} <= dirs


@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=lambda p: p.parent.relative_to(K8S).as_posix())
def test_every_referenced_file_exists(path):
    kustomization = load_all(path)[0]
    for ref in referenced_files(kustomization):
        if "://" in ref:
            continue  # remote bases are not used here, but are not files either
        target = (path.parent / ref).resolve()
        assert target.exists(), f"{path.relative_to(REPO)} lists {ref}, which does not exist"
        if target.is_dir():
            assert (target / "kustomization.yaml").is_file(), f"{ref} is a directory without kustomization.yaml"


def base_objects() -> dict[tuple[str, str], dict]:
    kustomization = load_all(K8S / "base" / "kustomization.yaml")[0]
    objects = {}
    for ref in kustomization["resources"]:
        for doc in load_all(K8S / "base" / ref):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def test_base_has_api_worker_and_migration_per_service():
    objects = base_objects()
    for svc in SERVICES:
        assert ("Deployment", f"{svc}-api") in objects
        assert ("Service", f"{svc}-api") in objects
        assert ("Deployment", f"{svc}-worker") in objects
        assert ("Service", f"{svc}-worker") not in objects, "workers take no traffic"
        assert ("Job", f"{svc}-migrate") in objects
    assert ("Deployment", "gateway") in objects and ("Service", "gateway") in objects
    hpa = objects[("HorizontalPodAutoscaler", "documents-worker")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "documents-worker"
    assert "replicas" not in objects[("Deployment", "documents-worker")]["spec"], "the HPA owns the replica count"


def test_no_secret_with_placeholders_in_base():
    objects = base_objects()
    assert not [name for kind, name in objects if kind == "Secret"]
    template = (K8S / "base" / "secret.template.yaml").read_text()
    assert "PLACEHOLDER" in template and "CHANGE-ME" in template
    names = {doc["metadata"]["name"] for doc in load_all(K8S / "base" / "secret.template.yaml")}
    assert names == {"portal-secrets", "portal-database-urls"}


def test_deployments_have_probes_resources_and_run_as_non_root():
    for (kind, name), doc in base_objects().items():
        if kind not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        if kind == "Deployment":
            main = pod["containers"][0]
            assert main["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert main["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            port = main["readinessProbe"]["httpGet"]["port"]
            assert port in {p["name"] for p in main["ports"]}, name


def test_each_pod_reads_only_its_own_database_url():
    for (kind, name), doc in base_objects().items():
        if kind not in ("Deployment", "Job") or name == "gateway":
            continue
        svc = name.rsplit("-", 1)[0]
        pod = doc["spec"]["template"]["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            refs = [e for e in container.get("env", []) if e["name"].endswith("_DATABASE_URL")]
            assert [e["name"] for e in refs] == [f"PORTAL_{svc.upper()}_DATABASE_URL"], name
            assert refs[0]["valueFrom"]["secretKeyRef"]["key"] == svc, name
            assert container["args"][0] in {"api", "worker", "migrate", "await-migrations"}


def test_api_and_worker_pods_wait_for_their_migration():
    for (kind, name), doc in base_objects().items():
        if kind == "Deployment" and name != "gateway":
            init = doc["spec"]["template"]["spec"]["initContainers"]
            assert init[0]["args"] == ["await-migrations"], name


@pytest.mark.parametrize("overlay", ["base", "overlays/dev", "overlays/prod"])
def test_kubectl_kustomize_renders(overlay):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed; the file checks above still ran")
    result = subprocess.run([kubectl, "kustomize", str(K8S / overlay)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "unknown command" in result.stderr:
        pytest.skip("this kubectl has no kustomize subcommand")
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "Job", "ConfigMap", "HorizontalPodAutoscaler"} <= kinds
    if overlay != "base":
        namespaces = {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"}
        assert len(namespaces) == 1 and None not in namespaces
