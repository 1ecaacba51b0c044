"""Prometheus metrics of the notify service (served on /metrics with portal_common's)."""
from prometheus_client import Counter

DELIVERIES = Counter("portal_notify_deliveries_total", "Deliveries by channel, template and outcome",
                     ["channel", "template", "outcome"])
