"""The internal API through Flask's test client on real PostgreSQL. Policies arrive the way the worker stores them
(the policy.upserted handler in a transaction), with fresh policy numbers per test."""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from portal_common.testing import apply_event, caller_headers

pytestmark = pytest.mark.database
TOKEN = caller_headers()
IDENTITY = caller_headers("identity")


class Api:
    def __init__(self, app):
        self.client = app.test_client()
        self.wiring = app.extensions["policies"]

    def call(self, method, path, body=None, headers=TOKEN):
        return self.client.open(path, method=method, json=body, headers=headers)

    def match(self, body, headers=IDENTITY):
        """Identification is identity's call (the gateway asks identity, never policies directly)."""
        return self.call("POST", "/internal/policyholders/match", body, headers=headers)

    def core_publishes(self, *, product="kgfb", status="active", payment_method="bank_transfer",
                       customer_id=None, policy_number=None, **holder) -> dict:
        """Store a policy as the worker would on ``policy.upserted``; returns the event."""
        n = uuid.uuid4().hex[:8]
        event = {
            "policy_number": policy_number or f"{product.upper()}-{n}", "product": product, "status": status,
            "payment_method": payment_method, "premium": {"amount": 48600, "frequency": "quarterly"},
            "start_date": "2024-03-01", "updated_at": "2026-11-01T10:00:00+00:00",
            "policyholder": {"customer_id": customer_id or f"C-{n}", "name": "Kovács Anna",
                             "birth_name": "Példa Anna", "birth_date": "1985-07-14", "birth_place": "Debrecen",
                             "mother_name": "Teszt Mária", "email": "anna@example.com", "mobile": "+36301234567",
                             **holder},
        }
        apply_event(self.wiring.bus, self.wiring.session_factory, "policy.upserted", event, message_id=f"m-{n}")
        return event

    def outbox(self, policy_number: str) -> list[dict]:
        with self.wiring.engine.connect() as conn:
            rows = conn.execute(text("SELECT event, payload, correlation_id, published_at FROM outbox "
                                     "WHERE payload LIKE :p ORDER BY seq"), {"p": f'%"{policy_number}"%'})
            return [dict(r._mapping, payload=json.loads(r.payload)) for r in rows]


@pytest.fixture(scope="module")
def api(app):
    return Api(app)


def identification(event: dict, **overrides) -> dict:
    holder = event["policyholder"]
    body = {"policy_number": event["policy_number"], **{k: holder[k] for k in (
        "name", "birth_name", "birth_date", "birth_place", "mother_name")}}
    return {**body, **overrides}


# ------------------------------------------------------------------------------------------------ credential
@pytest.mark.parametrize("headers", [{}, {"X-Service-Token": "wrong"}])
def test_without_the_service_token_every_internal_route_is_401(api, headers):
    event = api.core_publishes()
    for method, path, body in [
        ("GET", f"/internal/policies/{event['policy_number']}", None),
        ("GET", f"/internal/customers/{event['policyholder']['customer_id']}/policies", None),
        ("POST", "/internal/policyholders/match", identification(event)),
        ("POST", f"/internal/policies/{event['policy_number']}/epost",
         {"customer_id": event["policyholder"]["customer_id"]}),
    ]:
        response = api.call(method, path, body, headers=headers)
        assert response.status_code == 401, path
        assert response.get_json()["error"] == "unauthorized"
    assert api.outbox(event["policy_number"]) == []


def test_each_route_answers_only_the_callers_it_expects(api):
    """Identity may only identify; the gateway may do everything else but never call identification directly."""
    event = api.core_publishes()
    customer = event["policyholder"]["customer_id"]
    as_identity = [("GET", f"/internal/policies/{event['policy_number']}", None),
                   ("GET", f"/internal/customers/{customer}/policies", None),
                   ("POST", f"/internal/policies/{event['policy_number']}/epost", {"customer_id": customer})]
    for method, path, body in as_identity:
        response = api.call(method, path, body, headers=IDENTITY)
        assert (response.status_code, response.get_json()["error"]) == (403, "forbidden"), path
    assert api.outbox(event["policy_number"]) == []  # the refused enrolment changed nothing
    refused = api.match(identification(event), headers=TOKEN)
    assert (refused.status_code, refused.get_json()["error"]) == (403, "forbidden")
    assert api.match(identification(event)).status_code == 200
    assert api.call("GET", f"/internal/customers/{customer}/policies").status_code == 200


# ----------------------------------------------------------------------------------- policy.changed (issue 9)
def test_an_upsert_that_changes_a_customers_policy_list_writes_one_policy_changed_row(api):
    first = api.core_publishes(payment_method="cheque")
    number, customer_id = first["policy_number"], first["policyholder"]["customer_id"]
    assert api.outbox(number) == []  # the customer's first policy: nobody can have seen their list yet

    def again(**changes):
        event = {**first, **changes}
        apply_event(api.wiring.bus, api.wiring.session_factory, "policy.upserted", event,
                    message_id=f"m-{uuid.uuid4().hex}")

    again(status="suspended", updated_at="2026-11-02T10:00:00+00:00")
    again(status="terminated", updated_at="2026-10-01T10:00:00+00:00")  # stale: ignored
    again(status="suspended", updated_at="2026-11-02T10:00:00+00:00")  # the same again: changes nothing
    again(status="suspended", updated_at="2026-11-03T10:00:00+00:00")  # a newer time only
    assert [(r["event"], r["payload"]) for r in api.outbox(number)] == [
        ("policy.changed", {"policy_number": number, "customer_id": customer_id,
                            "changed_at": "2026-11-02T10:00:00+00:00"})]
    second = api.core_publishes(customer_id=customer_id)
    assert [r["payload"]["customer_id"] for r in api.outbox(second["policy_number"])] == [customer_id]


# ------------------------------------------------------------------------------------------------ reading
def test_get_policy(api):
    event = api.core_publishes(product="home", payment_method="cheque")
    response = api.call("GET", f"/internal/policies/{event['policy_number']}")
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("policy_number", "product", "status", "payment_method", "premium", "start_date",
                                 "customer_id", "epost", "enrollable", "qualifies_for_registration")} == {
        "policy_number": event["policy_number"], "product": "home", "status": "active",
        "payment_method": "cheque", "premium": {"amount": 48600, "frequency": "quarterly"},
        "start_date": "2024-03-01", "customer_id": event["policyholder"]["customer_id"], "epost": False,
        "enrollable": True, "qualifies_for_registration": False}
    assert body["updated_at"].startswith("2026-11-01T10:00:00")
    assert body["policyholder"]["name"] == "Kovács Anna" and body["policyholder"]["birth_date"] == "1985-07-14"


def test_get_unknown_policy_is_404(api):
    response = api.call("GET", "/internal/policies/KGFB-NOPE")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_customer_policies_lists_the_customers_policies_only(api):
    first = api.core_publishes(product="kgfb")
    customer_id = first["policyholder"]["customer_id"]
    second = api.core_publishes(product="other", customer_id=customer_id)
    api.core_publishes()  # someone else
    response = api.call("GET", f"/internal/customers/{customer_id}/policies")
    assert response.status_code == 200
    policies = response.get_json()["policies"]
    assert sorted(p["policy_number"] for p in policies) == sorted([first["policy_number"], second["policy_number"]])
    by_number = {p["policy_number"]: p for p in policies}
    assert by_number[first["policy_number"]]["qualifies_for_registration"] is True
    assert by_number[second["policy_number"]]["enrollable"] is False


def test_an_unknown_customer_has_no_policies(api):
    response = api.call("GET", "/internal/customers/C-NOBODY/policies")
    assert response.status_code == 200 and response.get_json() == {"policies": []}


# ------------------------------------------------------------------------------------------------ matching
def test_match_identifies_the_policyholder(api):
    event = api.core_publishes(payment_method="direct_debit")
    response = api.match(identification(event, name="  kovács  ANNA ", mother_name="teszt mária"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["customer_id"] == event["policyholder"]["customer_id"]
    assert (body["email"], body["mobile"], body["may_register"]) == ("anna@example.com", "+36301234567", True)
    assert [p["policy_number"] for p in body["policies"]] == [event["policy_number"]]


def test_match_with_only_a_cheque_paid_policy_may_not_register(api):
    event = api.core_publishes(payment_method="cheque")
    body = api.match(identification(event)).get_json()
    assert body["may_register"] is False


def test_unknown_policy_and_wrong_data_get_the_identical_404(api):
    event = api.core_publishes()
    unknown = api.match(identification(event, policy_number="KGFB-NOPE"))
    wrong = api.match(identification(event, name="Kovacs Anna"))
    wrong_date = api.match(identification(event, birth_date="1985-07-15"))
    assert unknown.status_code == wrong.status_code == wrong_date.status_code == 404
    assert unknown.get_data() == wrong.get_data() == wrong_date.get_data()
    assert unknown.get_json() == {"error": "no_match"}


def test_match_with_a_missing_or_empty_item_is_422(api):
    event = api.core_publishes()
    body = identification(event, birth_place="")
    del body["mother_name"]
    response = api.match(body)
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"birth_place", "mother_name"}


# ------------------------------------------------------------------------------------------------ enrolment
def test_enrol_switches_cheque_to_bank_transfer_and_writes_the_event_in_the_same_transaction(api):
    event = api.core_publishes(product="home", payment_method="cheque")
    number, customer_id = event["policy_number"], event["policyholder"]["customer_id"]
    response = api.call("POST", f"/internal/policies/{number}/epost", {"customer_id": customer_id},
                        headers={**TOKEN, "X-Correlation-ID": "corr-enrol-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["epost"], body["payment_method"], body["enrollable"]) == (True, "bank_transfer", False)
    [row] = api.outbox(number)
    assert row["event"] == "policy.enrolled" and row["published_at"] is None  # the worker's relay publishes it
    assert row["payload"] == {"policy_number": number, "customer_id": customer_id,
                              "payment_method": "bank_transfer", "previous_payment_method": "cheque"}
    assert row["correlation_id"] == "corr-enrol-1"
    stored = api.call("GET", f"/internal/policies/{number}").get_json()
    assert (stored["epost"], stored["payment_method"]) == (True, "bank_transfer")


def test_enrolling_twice_answers_200_and_writes_one_event(api):
    event = api.core_publishes(payment_method="direct_debit")
    path, body = f"/internal/policies/{event['policy_number']}/epost", {
        "customer_id": event["policyholder"]["customer_id"]}
    assert api.call("POST", path, body).status_code == 200
    again = api.call("POST", path, body)
    assert again.status_code == 200 and again.get_json()["payment_method"] == "direct_debit"
    assert [r["event"] for r in api.outbox(event["policy_number"])] == ["policy.enrolled"]


@pytest.mark.parametrize("overrides", [dict(product="other"), dict(status="suspended")])
def test_enrol_a_not_enrollable_policy_is_409_and_changes_nothing(api, overrides):
    event = api.core_publishes(payment_method="cheque", **overrides)
    response = api.call("POST", f"/internal/policies/{event['policy_number']}/epost",
                        {"customer_id": event["policyholder"]["customer_id"]})
    assert response.status_code == 409 and response.get_json()["error"] == "conflict"
    stored = api.call("GET", f"/internal/policies/{event['policy_number']}").get_json()
    assert (stored["epost"], stored["payment_method"]) == (False, "cheque")
    assert api.outbox(event["policy_number"]) == []


def test_enrol_someone_elses_policy_is_404_like_an_unknown_one(api):
    theirs = api.core_publishes(payment_method="cheque")
    mine = api.core_publishes()
    response = api.call("POST", f"/internal/policies/{theirs['policy_number']}/epost",
                        {"customer_id": mine["policyholder"]["customer_id"]})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    unknown = api.call("POST", "/internal/policies/KGFB-NOPE/epost",
                       {"customer_id": mine["policyholder"]["customer_id"]})
    assert unknown.status_code == 404
    assert api.call("GET", f"/internal/policies/{theirs['policy_number']}").get_json()["epost"] is False
    assert api.outbox(theirs["policy_number"]) == []


def test_enrol_without_a_customer_id_is_422(api):
    event = api.core_publishes()
    response = api.call("POST", f"/internal/policies/{event['policy_number']}/epost", {})
    assert response.status_code == 422 and "customer_id" in response.get_json()["fields"]


# ------------------------------------------------------------------------------------------------ health
def test_readyz_is_200_with_the_database_up(api):
    response = api.client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok"}}


def test_readyz_is_503_json_when_the_database_is_unreachable(database_url):
    from policies.entrypoints.api import create_app

    missing = database_url.rsplit("/", 1)[0] + "/policies_missing_" + uuid.uuid4().hex[:8]
    app = create_app(database_url=missing)
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "not ready" and body["checks"]["database"].startswith("failing: ")
        assert app.test_client().get("/healthz").status_code == 200  # alive, just not ready
    finally:
        app.extensions["policies"].engine.dispose()
