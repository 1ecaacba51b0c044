"""Prometheus metrics every process exposes on ``/metrics``.

Names follow the Prometheus conventions; the ``service`` label tells processes apart when one registry is scraped
per pod. gunicorn with several workers needs ``PROMETHEUS_MULTIPROC_DIR`` (set by each gunicorn.conf.py).
"""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "portal_http_requests_total", "HTTP requests served", ["service", "method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram("portal_http_request_seconds", "HTTP request latency", ["service", "endpoint"])
MESSAGES_PUBLISHED = Counter("portal_messages_published_total", "Events confirmed by the broker", ["service", "event"])
MESSAGES_UNROUTED = Counter(
    "portal_messages_unrouted_total",
    "Events only live subscribers take (the gateway's per-process queues) that had none: dropped, as intended",
    ["service", "event"],
)
PUBLISH_FAILURES = Counter("portal_publish_failures_total", "Outbox publish attempts that failed", ["service", "reason"])
MESSAGES_CONSUMED = Counter(
    "portal_messages_consumed_total", "Messages consumed, by outcome", ["service", "event", "outcome"]
)
MESSAGES_RETRIED = Counter("portal_messages_retried_total", "Handler attempts retried after a transient error", ["service", "event"])
MESSAGES_DEAD_LETTERED = Counter(
    "portal_messages_dead_lettered_total", "Messages sent to the dead-letter queue", ["service", "event", "reason"]
)
DEAD_LETTER_QUEUE = Gauge(
    "portal_dead_letter_queue_messages", "Messages waiting in the service's dead-letter queue (alert when > 0)",
    ["service"], multiprocess_mode="max"
)
OUTBOX_BACKLOG = Gauge(
    "portal_outbox_backlog", "Outbox rows not yet confirmed by the broker", ["service"], multiprocess_mode="max"
)
OUTBOX_OLDEST_AGE = Gauge(
    "portal_outbox_oldest_unpublished_seconds", "Age of the oldest outbox row not yet confirmed by the broker (0: none)",
    ["service"], multiprocess_mode="max",
)


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
