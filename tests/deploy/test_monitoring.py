"""deploy/monitoring: the alert rules pass `promtool check rules`, their unit tests pass `promtool test rules`, and the
rules and the Grafana dashboard use only metrics that the portal's processes (or RabbitMQ's plugin) really export.

promtool comes from Debian's `prometheus` package (`make deploy-tools`, part of `make test`)."""
from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "portal-alerts.rules.yml"
# Exported by RabbitMQ's rabbitmq_prometheus plugin with per-object metrics on (deploy/rabbitmq/rabbitmq.conf).
RABBITMQ_METRICS = {"rabbitmq_queue_messages"}
METRIC_MODULES = ("portal_common.metrics", "portal_common.housekeeping", "documents.metrics",
                  "notify.service_layer.metrics", "gateway.feed")


@pytest.fixture(scope="module")
def promtool(tool):
    return tool("promtool", "Debian package `prometheus`: make deploy-tools")


def exported_metric_names() -> set[str]:
    """Every series name the portal's metric definitions produce (counter -> _total, histogram -> _bucket …)."""
    from prometheus_client import REGISTRY

    for module in METRIC_MODULES:
        importlib.import_module(module)
    importlib.import_module("gateway.feed").feed_live_gauge()  # made on first use, in the processes that run a feed
    names = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    return {name for name in names if name.startswith("portal_")}


def metric_names_in(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:portal|rabbitmq)_[a-z0-9_]+)\b", expr))


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text(encoding="utf-8"))
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_rules_pass_promtool_check(promtool, tmp_path):
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 14 rules found" in result.stdout


def test_prometheusrule_groups_pass_promtool_check(promtool, tmp_path):
    """The Operator's object, unwrapped, is a valid rules file too (its CRD schema is not available here)."""
    docs = [d for d in yaml.safe_load_all((MONITORING / "prometheusrule.yaml").read_text()) if d]
    [rule] = docs
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    unwrapped = tmp_path / "unwrapped.yml"
    unwrapped.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run([promtool, "check", "rules", str(unwrapped)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass(promtool):
    """DLQ not empty, outbox stuck, queue stalled, gateway 5xx, a target / a whole component down: firing and not."""
    result = subprocess.run([promtool, "test", "rules", str(MONITORING / "tests" / "portal-alerts.test.yml")],
                            capture_output=True, text=True, timeout=120, cwd=MONITORING / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_prometheusrule_is_generated_from_the_rules_file():
    spec = importlib.util.spec_from_file_location("render_prometheusrule", MONITORING / "render_prometheusrule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (MONITORING / "prometheusrule.yaml").read_text() == module.render(), "run `make monitoring`"


@pytest.mark.parametrize("source", ["rules", "dashboard"])
def test_only_metrics_that_exist_are_used(source):
    exprs = rule_exprs() if source == "rules" else dashboard_exprs()
    used = set().union(*(metric_names_in(e) for e in exprs))
    known = exported_metric_names() | RABBITMQ_METRICS
    assert used, "no metric found"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"


def test_the_alerts_named_in_the_issue_exist():
    alerts = {rule["alert"]: rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
              for rule in group["rules"]}
    assert "portal_dead_letter_queue_messages" in alerts["PortalDeadLetters"]
    assert "rabbitmq_queue_messages" in alerts["PortalQueueBacklogGrowing"]
    assert "rabbitmq_queue_messages" in alerts["PortalQueueStalled"]
    assert "portal_outbox_oldest_unpublished_seconds" in alerts["PortalOutboxStuck"]
    assert "> 60" in alerts["PortalOutboxStuck"]
    assert "up{" in alerts["PortalTargetDown"] and "absent(" in alerts["PortalServiceDown"]
    assert 'status=~"5.."' in alerts["PortalGatewayErrors"]
    assert "histogram_quantile(0.99" in alerts["PortalGatewaySlow"]
    assert "portal_notify_deliveries_total" in alerts["PortalNotificationFailureRate"]
    assert 'outcome="dead_lettered"' in alerts["PortalMessageFailureRate"]


def test_every_alert_has_a_runbook_section():
    runbook = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in runbook.splitlines() if line.startswith("#")}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
            assert anchor == rule["alert"].lower()
            assert anchor in anchors, f"docs/operations.md has no section for {rule['alert']}"


def test_dashboard_is_valid_grafana_json():
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        for target in panel.get("targets", []):
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
