"""Each internal API knows its callers: own credential per caller, digests only, two valid while rotating."""
from __future__ import annotations

import pytest
from flask import jsonify

from portal_common import callers
from portal_common.config import ConfigError
from portal_common.web import client_ip, for_callers, service_app

GATEWAY_OLD, GATEWAY_NEW, IDENTITY_TOKEN = "g-old-" + "x" * 40, "g-new-" + "y" * 40, "i-" + "z" * 40


@pytest.fixture
def app(monkeypatch):
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN_SHA256",
                       f"{callers.digest(GATEWAY_OLD)}, {callers.digest(GATEWAY_NEW).upper()}")
    monkeypatch.setenv("PORTAL_IDENTITY_TOKEN_SHA256", callers.digest(IDENTITY_TOKEN))
    app = service_app("probe", checks={}, import_name=__name__, callers=(callers.GATEWAY, callers.IDENTITY))

    @app.get("/internal/for-gateway")
    def for_gateway():
        return jsonify(ip=client_ip())

    @app.get("/internal/for-identity")
    @for_callers(callers.IDENTITY)
    def for_identity():
        return jsonify(ip=client_ip())

    return app.test_client()


def call(client, path, token, ip="203.0.113.7"):
    return client.get(path, headers={"X-Service-Token": token, "X-Client-IP": ip},
                      environ_base={"REMOTE_ADDR": "10.1.2.3"})


def test_both_tokens_of_a_rotating_caller_are_accepted_and_nothing_else(app):
    assert call(app, "/internal/for-gateway", GATEWAY_OLD).status_code == 200
    assert call(app, "/internal/for-gateway", GATEWAY_NEW).status_code == 200
    for wrong in ("", GATEWAY_NEW[:-1], callers.digest(GATEWAY_NEW), "dev-gateway-token", "dev-service-token"):
        response = call(app, "/internal/for-gateway", wrong)
        assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized")


def test_a_valid_caller_on_a_route_not_meant_for_it_is_forbidden(app):
    assert call(app, "/internal/for-gateway", IDENTITY_TOKEN).status_code == 403
    assert call(app, "/internal/for-identity", GATEWAY_NEW).status_code == 403
    assert call(app, "/internal/for-identity", IDENTITY_TOKEN).status_code == 200


def test_the_client_address_is_believed_from_the_gateway_only(app):
    assert call(app, "/internal/for-gateway", GATEWAY_OLD).get_json() == {"ip": "203.0.113.7"}
    # identity (or anyone holding its token) cannot choose whose throttle it spends
    assert call(app, "/internal/for-identity", IDENTITY_TOKEN).get_json() == {"ip": "10.1.2.3"}


def test_an_api_that_expects_only_the_gateway_refuses_identity(monkeypatch):
    monkeypatch.delenv("PORTAL_ENV", raising=False)
    monkeypatch.delenv("PORTAL_GATEWAY_TOKEN_SHA256", raising=False)
    app = service_app("probe", checks={}, import_name=__name__)
    app.get("/internal/x")(lambda: "ok")
    client = app.test_client()
    assert client.get("/internal/x", headers={"X-Service-Token": "dev-identity-token"}).status_code == 401
    assert client.get("/internal/x", headers={"X-Service-Token": "dev-gateway-token"}).status_code == 200


@pytest.mark.parametrize("value", ["nope", "a" * 63, callers.digest("x") + ",zz"])
def test_a_malformed_digest_stops_the_start_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN_SHA256", value)
    with pytest.raises(ConfigError, match="PORTAL_GATEWAY_TOKEN_SHA256"):
        callers.CallerCheck([callers.GATEWAY])


def test_production_needs_the_callers_digests_and_refuses_published_tokens(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("PORTAL_GATEWAY_TOKEN_SHA256", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_GATEWAY_TOKEN_SHA256 must be set"):
        callers.CallerCheck([callers.GATEWAY])
    for published in ("dev-gateway-token", "dev-service-token"):
        monkeypatch.setenv("PORTAL_GATEWAY_TOKEN_SHA256", f"{callers.digest(GATEWAY_NEW)},{callers.digest(published)}")
        with pytest.raises(ConfigError, match="published demo token"):
            callers.CallerCheck([callers.GATEWAY])
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN_SHA256", callers.digest(GATEWAY_NEW))
    assert callers.CallerCheck([callers.GATEWAY]).identify(GATEWAY_NEW) == callers.GATEWAY


@pytest.mark.parametrize("token", ["", "dev-gateway-token", "demo-service-token-change-me-in-production",
                                   "CHANGE-ME-long-random", "short-but-random-Qx81"])
def test_production_refuses_a_demo_or_short_caller_token(monkeypatch, token):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN", token)
    with pytest.raises(ConfigError, match="PORTAL_GATEWAY_TOKEN"):
        callers.own_token(callers.GATEWAY)


def test_every_answer_is_counted_and_timed_per_route_and_status(app):
    from portal_common import metrics

    def counted(status):
        return metrics.HTTP_REQUESTS.labels("probe", "GET", "/internal/for-gateway", status)._value.get()

    def timed():
        return metrics.HTTP_LATENCY.labels("probe", "/internal/for-gateway")._sum.get()

    ok, refused, spent = counted(200), counted(401), timed()
    for _ in range(3):
        call(app, "/internal/for-gateway", GATEWAY_NEW)
    call(app, "/internal/for-gateway", "wrong")
    assert (counted(200) - ok, counted(401) - refused) == (3, 1)
    assert timed() > spent
