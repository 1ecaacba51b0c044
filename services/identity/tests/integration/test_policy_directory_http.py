"""HttpPolicyDirectory against a real HTTP server standing in for the policies service (headers, failures).
Identification against the real policies API is a cross-service test: tests/integration/test_identity_policies_http.py."""
from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest
from flask import Flask, jsonify, request

from identity.adapters.policy_directory import HttpPolicyDirectory
from identity.domain import commands, errors
from portal_common import logs
from portal_common.testing import free_port, wsgi_servers

pytestmark = pytest.mark.database
REPO = Path(__file__).resolve().parents[4]
EXAMPLE = json.loads((REPO / "contracts/events/examples/policy.upserted.v1.json").read_text(encoding="utf-8"))
ANNA = commands.Identification(policy_number=EXAMPLE["policy_number"], name="  MINTA anna ",
                               birth_name="Példa Anna", birth_date=date(1985, 7, 14), birth_place="debrecen",
                               mother_name="Teszt Mária")


@pytest.fixture
def serve():
    with wsgi_servers() as start:
        yield start


def test_the_service_token_and_correlation_id_are_sent(serve):
    seen = {}
    stub = Flask("stub")

    @stub.post("/internal/policyholders/match")
    def match():
        seen.update(request.headers)
        seen["body"] = request.get_json()
        return jsonify(customer_id="C-1", email=None, mobile=None, may_register=True, policies=[])

    directory = HttpPolicyDirectory(serve(stub), token="secret-token")
    logs.bind_correlation_id("corr-123")
    holder = directory.match(ANNA)
    assert holder.customer_id == "C-1" and holder.may_register is True
    assert seen["X-Service-Token"] == "secret-token" and seen["X-Correlation-Id"] == "corr-123"
    assert seen["body"]["birth_date"] == "1985-07-14"


@pytest.mark.parametrize("status", [500, 503, 401])
def test_an_error_answer_is_unavailable_not_a_mismatch(serve, status):
    stub = Flask("stub")
    stub.post("/internal/policyholders/match")(lambda: (jsonify(error="boom"), status))
    with pytest.raises(errors.DirectoryUnavailable):
        HttpPolicyDirectory(serve(stub)).match(ANNA)


def test_a_slow_policies_service_times_out(serve):
    stub = Flask("stub")

    @stub.post("/internal/policyholders/match")
    def slow():
        time.sleep(2)
        return jsonify(customer_id="C-1")

    started = time.monotonic()
    with pytest.raises(errors.DirectoryUnavailable):
        HttpPolicyDirectory(serve(stub), timeout=(1, 0.5)).match(ANNA)
    assert time.monotonic() - started < 2


def test_nobody_listening_is_unavailable():
    with pytest.raises(errors.DirectoryUnavailable):
        HttpPolicyDirectory(f"http://127.0.0.1:{free_port()}").match(ANNA)
