"""Wrap portal-alerts.rules.yml in a PrometheusRule (prometheusrule.yaml): one source for both forms.

    python deploy/monitoring/render_prometheusrule.py      # or: make monitoring
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
HEADER = """# GENERATED from portal-alerts.rules.yml by render_prometheusrule.py (`make monitoring`); do not edit by hand.
# For the Prometheus Operator: the label `release` / `prometheus` your Prometheus' ruleSelector expects may differ.
"""


def render() -> str:
    groups = yaml.safe_load((HERE / "portal-alerts.rules.yml").read_text(encoding="utf-8"))["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "portal-alerts", "labels": {"app.kubernetes.io/name": "portal-alerts",
                                                          "prometheus": "portal"}},
        "spec": {"groups": groups},
    }
    return HEADER + yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    target = HERE / "prometheusrule.yaml"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}", file=sys.stderr)
