"""The policy list builds its JSON by hand (cheaper than marshmallow's dump); the schema is the contract."""
from __future__ import annotations

import pytest

from policies.entrypoints import schemas
from policies.entrypoints.api import policy_json

from .conftest import policy


@pytest.mark.parametrize("kind", [
    dict(), dict(epost=True), dict(product="home", payment_method="cheque"), dict(status="lapsed"),
    dict(product="other", payment_method="direct_debit"),
])
def test_policy_json_is_what_the_schema_dumps(kind):
    p = policy(**kind)
    assert policy_json(p) == schemas.PolicyOutSchema().dump(p)
