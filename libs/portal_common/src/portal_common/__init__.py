"""Plumbing shared by every portal process. Nothing domain-specific lives here.

One change here redeploys every service, so it stays small: configuration, the bus (topology, publishing with
confirms), the transactional outbox and its relay, the idempotent consumer, health/metrics endpoints and logging.
"""
