"""``make run``'s demo CRM: it consumes ``crm.events`` on the file bus, keeps every message as one file under
``var/crm`` (what ``/dev/crm`` lists), acknowledges it, and writes a redelivered message once."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

import pytest

from portal_common.bus import OutgoingMessage, Publisher, connect, declare_topology, load_topology
from portal_common.testing import wait_until

NOW = "2026-12-04T10:00:00+00:00"


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("PORTAL_AMQP_URL", raising=False)
    monkeypatch.delenv("PORTAL_BUS_NAMESPACE", raising=False)
    return tmp_path


@pytest.fixture
def crm(var):
    topology = load_topology()
    with connect(None) as connection:
        declare_topology(connection, topology)
    log = open(var / "crm.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "portal_devstack.crm"], stdout=log, stderr=subprocess.STDOUT)
    yield Publisher(topology, url=None)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, (var / "crm.log").read_text()
    log.close()


def test_callback_requests_and_contact_changes_land_in_var_crm_once_each(crm, var):
    callback = {"customer_id": None, "name": "Minta Vilma", "phone": "+3615550199", "topic": "legal",
                "preferred_time": "morning", "due_on": "2026-12-08"}
    first, changed = str(uuid.uuid4()), str(uuid.uuid4())
    messages = [OutgoingMessage.for_event(first, "customer.callback_requested", callback, occurred_at=NOW,
                                          correlation_id=None),
                OutgoingMessage.for_event(changed, "customer.contact_changed",
                                          {"customer_id": "C-1", "changed": ["email"]}, occurred_at=NOW,
                                          correlation_id=None),
                # the relay sent the first one again (its confirm was lost): the CRM keeps it once
                OutgoingMessage.for_event(first, "customer.callback_requested", callback, occurred_at=NOW,
                                          correlation_id=None)]
    assert set(crm.publish_batch(messages[:2]).values()) == {None}
    assert set(crm.publish_batch(messages[2:]).values()) == {None}

    files = wait_until(lambda: sorted((var / "crm").glob("*.json")) if len(list((var / "crm").glob("*.json"))) == 2
                       else None, 60, message="both messages in var/crm")
    kept = {json.loads(p.read_text())["message_id"]: json.loads(p.read_text()) for p in files}
    assert kept[first]["event"] == "customer.callback_requested"
    assert kept[first]["payload"]["phone"] == "+3615550199" and kept[first]["payload"]["due_on"] == "2026-12-08"
    assert kept[changed]["event"] == "customer.contact_changed"
    assert kept[changed]["payload"]["changed"] == ["email"]
    # acknowledged: nothing is left in the queue for a second consumer
    wait_until(lambda: not any((var / "bus" / "data").glob("*crm.events*")), 30, message="crm.events emptied")
