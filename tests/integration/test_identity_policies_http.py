"""Identity's HTTP policy directory against the real policies API: the two services meet only over HTTP, so this
cross-service test lives here and neither service's own tests import the other."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from identity.adapters.policy_directory import HttpPolicyDirectory
from identity.domain import commands
from portal_common.testing import apply_event, migrate, temp_postgres_database, wsgi_servers

pytestmark = pytest.mark.database
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO / "contracts/events/examples/policy.upserted.v1.json").read_text(encoding="utf-8"))
ANNA = commands.Identification(policy_number=EXAMPLE["policy_number"], name="  MINTA anna ",
                               birth_name="Példa Anna", birth_date=date(1985, 7, 14), birth_place="debrecen",
                               mother_name="Teszt Mária")


@pytest.fixture
def serve():
    with wsgi_servers() as start:
        yield start


@pytest.fixture(scope="module")
def policies_app():
    """The real policies API on its own database, seeded with the policy.upserted contract example."""
    from policies.entrypoints.api import create_app

    with temp_postgres_database("identity_policies") as url:
        migrate(REPO / "services/policies/alembic.ini", url)
        app = create_app(url)
        wiring = app.extensions["policies"]
        apply_event(wiring.bus, wiring.session_factory, "policy.upserted", EXAMPLE)
        yield app
        wiring.engine.dispose()


def test_identification_through_the_real_policies_api(policies_app, serve):
    directory = HttpPolicyDirectory(serve(policies_app))
    holder = directory.match(ANNA)
    assert holder.customer_id == EXAMPLE["policyholder"]["customer_id"]
    assert holder.may_register is False  # the example policy is paid by cheque
    assert directory.match(replace(ANNA, mother_name="Teszt Maria")) is None  # accents count
    assert directory.match(replace(ANNA, policy_number="NO-SUCH-POLICY")) is None
    assert directory.match(replace(ANNA, policy_number=EXAMPLE["policy_number"].lower())) is not None
