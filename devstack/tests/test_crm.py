"""``make run``'s demo CRM: it consumes ``crm.events`` on the file bus, keeps every message as one file under
``var/crm`` (what ``/dev/crm`` lists), acknowledges it, and writes a redelivered message once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from portal_common.testing import deadline_for, wait_until

NOW = "2026-12-04T10:00:00+00:00"


@pytest.fixture
def var(tmp_path, monkeypatch):
    """``make run``'s settings and nothing else: no setting another test left behind reaches the CRM process."""
    for key in [k for k in os.environ if k.startswith("PORTAL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PORTAL_VAR_DIR", str(tmp_path))
    return tmp_path


#: The core system's side, in a process of its own like the CRM: kombu's virtual transports keep exchanges in a
#: per-process table, which earlier tests of this process have filled for their own file buses.
PUBLISH = """
import json, sys
from portal_common.bus import OutgoingMessage, Publisher, connect, declare_topology, load_topology
topology = load_topology()
with connect(None) as connection:
    declare_topology(connection, topology)
publisher = Publisher(topology, url=None)
for batch in json.loads(sys.argv[1]):
    sent = publisher.publish_batch([OutgoingMessage.for_event(m["id"], m["event"], m["payload"], occurred_at=m["at"],
                                                              correlation_id=None) for m in batch])
    assert set(sent.values()) == {None}, sent
"""


def publish(*batches: list[dict]) -> None:
    subprocess.run([sys.executable, "-c", PUBLISH, json.dumps(batches)], check=True, timeout=120)


@pytest.fixture
def crm(var):
    publish()  # the topology, declared as the services' workers do at start
    log = open(var / "crm.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "portal_devstack.crm"], stdout=log, stderr=subprocess.STDOUT)
    yield
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, (var / "crm.log").read_text()
    log.close()


def test_callback_requests_and_contact_changes_land_in_var_crm_once_each(crm, var):
    callback = {"customer_id": None, "name": "Minta Vilma", "phone": "+3615550199", "topic": "legal",
                "preferred_time": "morning", "due_on": "2026-12-08"}
    first, changed = str(uuid.uuid4()), str(uuid.uuid4())
    request = {"id": first, "event": "customer.callback_requested", "payload": callback, "at": NOW}
    # the relay sends the first one again (its confirm was lost): the CRM keeps it once
    publish([request, {"id": changed, "event": "customer.contact_changed", "at": NOW,
                       "payload": {"customer_id": "C-1", "changed": ["email"]}}], [request])

    # all three consumed and acknowledged: nothing is left in the queue for a second consumer
    wait = _waiting_with_the_log(var / "crm.log")
    wait(lambda: not any((var / "bus" / "data").glob("*crm.events*")), "crm.events emptied")
    files = wait(lambda: sorted((var / "crm").glob("*.json")) if len(list((var / "crm").glob("*.json"))) == 2
                 else None, "both messages in var/crm")
    kept = {json.loads(p.read_text())["message_id"]: json.loads(p.read_text()) for p in files}
    assert kept[first]["event"] == "customer.callback_requested"
    assert kept[first]["payload"]["phone"] == "+3615550199" and kept[first]["payload"]["due_on"] == "2026-12-08"
    assert kept[changed]["event"] == "customer.contact_changed"
    assert kept[changed]["payload"]["changed"] == ["email"]


def _waiting_with_the_log(log):
    def wait(predicate, what):
        try:
            return wait_until(predicate, deadline_for(60), message=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- the CRM's log ---\n{log.read_text('utf-8', 'replace')}") from None
    return wait
