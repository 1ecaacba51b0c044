"""The whole-system fault run, small: 1,000 events through the four real workers on real RabbitMQ, PostgreSQL,
S3 (moto) and SMTP (aiosmtpd) while the broker is cut once. Nothing lost, nothing doubled, every poison message in a
dead-letter queue with its reason and nothing else there, no outbox row left behind. ``make chaos`` is the big one."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.database, pytest.mark.slow]


def _harness():
    spec = importlib.util.spec_from_file_location("chaos_harness", Path(__file__).with_name("harness.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


def test_a_thousand_events_through_a_broker_cut_lose_nothing_and_double_nothing(tmp_path):
    harness = _harness()
    result = harness.Run(1000, harness.Faults.broker_only(), tmp_path, drain_timeout=600).execute()
    print(harness.table(result))
    assert result["drained"], result
    assert (result["lost"], result["doubled"]) == (0, 0), (result["lost_detail"], result["doubled_detail"])
    assert result["unexpected_dead_letters"] == {}
    assert result["applied"]["documents_stored"] == result["sent"]["event"] - result["customers"]
    assert result["emails"]["document"] == result["applied"]["documents_stored"]
    assert result["emails"]["declaration"] == result["customers"]
    assert set(result["poison_by_kind"]) == set(harness.POISON_KINDS)
    assert sum(result["unpublished_outbox_rows"].values()) == 0
