"""Delayed retries through the broker, and when to give up.

A message that failed for a passing reason is not slept on in the worker (that would hold its prefetch and its
batch): it is published to the service's retry tier ``<service>.retry.<n>`` — a queue whose message TTL (5 s,
30 s, 5 min, 30 min, 2 h; ``contracts/topology.json``) expires it into ``<service>.requeue``, which routes it back
into the work queue with its own routing key — and the delivery is acked. Each retry counts the attempt in the
``x-attempts`` header and keeps the first failure's ``x-first-failure-reason`` / ``x-first-failure-at``; after the
last tier the last one is used again, until the retry horizon (``PORTAL_RETRY_HORIZON_HOURS``, default 24; per
service ``PORTAL_<SERVICE>_RETRY_HORIZON_HOURS``) has passed since the first failure: then the message is
dead-lettered with the reason and that history. An error of unknown kind (most likely a bug) gives up sooner, after
``PORTAL_RETRY_UNKNOWN_ATTEMPTS`` (default 3) deliveries. (NServiceBus' "delayed retries" and MassTransit's
redelivery work the same way.)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import config
from .errors import Kind

# Headers of the retry protocol (HELPERS.md / docs/architecture.md). Others rely on these exact names.
ATTEMPTS = "x-attempts"
FIRST_REASON = "x-first-failure-reason"
FIRST_AT = "x-first-failure-at"
LAST_REASON = "x-last-failure-reason"
DEAD_REASON = "x-dead-reason"
DEAD_QUEUE = "x-dead-queue"
DEAD_AT = "x-dead-at"
DEAD_SERVICE = "x-dead-service"
DEAD_ROUTING_KEY = "x-dead-routing-key"
DUE_AT = "x-retry-due-at"  # epoch seconds: when a parked message is due (file bus only, no TTL there)
#: Broker bookkeeping that grows with every trip through a tier: dropped when the worker republishes.
BROKER_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
                  "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count")


@dataclass(frozen=True)
class RetryPolicy:
    horizon: timedelta = timedelta(hours=24)
    unknown_attempts: int = 3

    @classmethod
    def from_env(cls, service: str) -> "RetryPolicy":
        hours = config.env(f"PORTAL_{service.upper()}_RETRY_HORIZON_HOURS", "") or config.env(
            "PORTAL_RETRY_HORIZON_HOURS", "24")
        return cls(horizon=timedelta(hours=float(hours)),
                   unknown_attempts=config.env_int("PORTAL_RETRY_UNKNOWN_ATTEMPTS", 3))


@dataclass(frozen=True)
class Decision:
    """``tier`` set: retry through that tier; else dead-letter with ``reason``. ``headers`` are the new ones."""

    headers: dict
    tier: int | None = None
    reason: str | None = None


def decide(policy: RetryPolicy, kind: Kind, reason: str, headers: dict, tiers: int, now: datetime) -> Decision:
    """What to do with a delivery that failed with ``reason`` (a transient or unknown ``kind``)."""
    attempts = int(headers.get(ATTEMPTS) or 0) + 1  # the deliveries that have failed, this one included
    first_at = _parse(headers.get(FIRST_AT)) or now
    out = {k: v for k, v in headers.items() if k not in BROKER_HEADERS and k != DUE_AT}
    out[ATTEMPTS] = attempts
    out.setdefault(FIRST_REASON, reason[:1000])
    out.setdefault(FIRST_AT, first_at.isoformat())
    out[LAST_REASON] = reason[:1000]
    waited = now - first_at
    if tiers == 0:
        return Decision(out, reason=f"gave up after {attempts} attempts (no retry tiers): {reason}")
    if kind is Kind.UNKNOWN and attempts >= policy.unknown_attempts:
        return Decision(out, reason=f"gave up after {attempts} attempts: {reason}")
    if waited >= policy.horizon:
        return Decision(out, reason=f"gave up after {attempts} attempts over {_hours(waited)} (retry horizon "
                                    f"{_hours(policy.horizon)}): {reason}; first failure at "
                                    f"{out[FIRST_AT]}: {out[FIRST_REASON]}")
    return Decision(out, tier=min(attempts - 1, tiers - 1))


def _parse(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
