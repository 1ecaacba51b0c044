"""Correlation from the edge: the ingress's X-Request-ID (or the W3C traceparent's trace id) becomes the correlation
id of the request, validated; anything malformed is ignored and a fresh id started."""
from __future__ import annotations

import pytest

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_request_id_from_the_ingress_is_the_correlation_id(client):
    response = client.get("/", headers={"X-Request-ID": "req-2026-12-04.abc:17"})
    assert response.headers["X-Correlation-ID"] == "req-2026-12-04.abc:17"


def test_traceparent_trace_id_is_the_correlation_id(client):
    response = client.get("/", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    assert response.headers["X-Correlation-ID"] == TRACE_ID


def test_request_id_wins_over_traceparent(client):
    response = client.get("/", headers={"X-Request-ID": "edge-request-0001",
                                        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    assert response.headers["X-Correlation-ID"] == "edge-request-0001"


@pytest.mark.parametrize("headers", [
    {"X-Request-ID": "x" * 65},                          # too long for logs and the outbox column
    {"X-Request-ID": "short"},                           # too short to be unique
    {"X-Request-ID": "abc def<script>"},                 # outside the charset
    {"X-Request-ID": "ügyfél-kérés-0001"},
    {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"},  # all-zero trace id is invalid (W3C)
    {"traceparent": "00-xyz-00f067aa0ba902b7-01"},
])
def test_malformed_edge_ids_start_a_fresh_correlation_id(client, headers):
    response = client.get("/", headers=headers)
    correlation_id = response.headers["X-Correlation-ID"]
    assert len(correlation_id) == 32 and correlation_id not in str(headers)

