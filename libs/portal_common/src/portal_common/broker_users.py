"""Who may do what on RabbitMQ: a user per service and one for the insurer's core system (issue 8, item 3).

RabbitMQ checks three resource permissions (regular expressions on exchange and queue names) and, on topic
exchanges, topic permissions on the routing key of a publish ("write") and on the binding key of a queue.bind
("read") — https://www.rabbitmq.com/docs/access-control. So:

- each user may PUBLISH on ``portal`` only the routing keys it owns (the core system: ``policy.upserted`` and
  ``document.uploaded``; identity: ``account.*`` and ``customer.*``; documents: ``document.available``,
  ``document.expiring``, ``document.read``, ``document.delivery_recorded``; policies: ``policy.enrolled``,
  ``policy.changed``; notify: ``notification.failed``, ``document.announced``) — a forged ``account.closed`` from
  the core system's credential is refused by the broker;
- each service may BIND its own queue on ``portal`` only with the keys of contracts/topology.json (documents cannot
  bind its queue to ``#`` and read the initial passwords' events), and read only its own queues;
- each service may configure only its own queues and exchanges (``<svc>.events``, ``<svc>.dead``,
  ``<svc>.retry.<n>``, ``<svc>.requeue``); the shared exchanges and the bindings come from the definitions;
- the gateway (``portal-gateway``, its invalidation feed: gateway/src/gateway/feed.py) publishes nothing; it may
  declare, bind and consume only its own feed queues (``<ns>.gateway.feed.<32 hex digits>``, exclusive: one per
  process), read ``portal`` to bind them there, and only with the keys of :data:`GATEWAY_FEED_KEYS`;
- nobody gets ``amq.default`` (publishing through the default exchange reaches any queue by name, past every topic
  permission), nor read or write on ``portal.dlx`` (a direct exchange, where topic permissions do not apply: a
  service could otherwise bind its queue to another service's dead letters, or drop a forged event into another
  service's dead letters for an operator to replay). The broker dead-letters into ``portal.dlx`` itself (a work
  queue's delivery limit), which needs no user's permission; a consumer publishes its dead letters (with their
  reason headers) to its own ``<svc>.dead`` exchange, which only its own pattern matches.

``python -m portal_common.topology_export --permissions`` writes ``deploy/rabbitmq/permissions.json`` from this.
Passwords are never here: deploy/rabbitmq/entrypoint.sh creates the users from secrets.
"""
from __future__ import annotations

import re

from .bus import GATEWAY_FEED_QUEUE, Topology

CORE = "core"
#: user suffix -> the routing keys it may publish on the portal exchange (``x.*``: any event of that aggregate).
PUBLISHES: dict[str, tuple[str, ...]] = {
    CORE: ("policy.upserted", "document.uploaded"),
    "identity": ("account.*", "customer.*"),
    "documents": ("document.available", "document.expiring", "document.read", "document.delivery_recorded"),
    "policies": ("policy.enrolled", "policy.changed"),
    "notify": ("notification.failed", "document.announced"),
}
USER_PREFIX = "portal-"
GATEWAY = "gateway"
#: The routing keys the gateway's invalidation feed binds: the events that change what the gateway shows a customer
#: (gateway.cache.ROUTING_KEYS is this list; it lives here because portal_common must not import the gateway).
GATEWAY_FEED_KEYS: tuple[str, ...] = (
    "account.sessions_ended",          # identity: sessions of an account ended (logout, password, recovery, closure)
    "customer.declared",               # identity: the declaration (step 0) was made ...
    "customer.declaration_withdrawn",  # ... or withdrawn: the session answer's declaration_active changes
    "document.available",              # documents: a new document in the customer's list
    "document.read",                   # documents: a document was opened for the first time (unread count)
    "document.delivery_recorded",      # documents: a delivery record changed (viewed, downloaded, announced, ...)
    "policy.enrolled",                 # policies: a policy joined ePosta
    "policy.changed",                  # policies: a registered customer's policy changed (from policy.upserted)
)
NOTHING = "^$"


def user_name(who: str) -> str:
    return USER_PREFIX + who


def users(topology: Topology) -> list[str]:
    """Every broker user the portal needs: one per service of the topology, the core system and the gateway."""
    return [user_name(who) for who in dict.fromkeys([*topology.services, *PUBLISHES, GATEWAY])]


def _key_pattern(key: str) -> str:
    """``account.*`` -> any one-word event of ``account``; other keys literally."""
    if key.endswith(".*"):
        return re.escape(key[:-2]) + r"\.[a-z][a-z0-9_]*"
    return re.escape(key)


def _alternatives(patterns) -> str:
    patterns = list(patterns)
    return "^(" + "|".join(patterns) + ")$" if patterns else NOTHING


def gateway_feed_queue_pattern(topology: Topology) -> str:
    """The names of the gateway's feed queues (portal_common.bus.gateway_feed_queue_name), as a regular expression."""
    return re.escape(topology.prefix + GATEWAY_FEED_QUEUE) + "[0-9a-f]{32}"


def permissions_for(who: str, topology: Topology) -> dict:
    """``{"configure", "write", "read", "topic": {"write", "read"}}`` of one user (regular expressions)."""
    exchange = re.escape(topology.exchange)
    if who == GATEWAY:
        # configure: declare its exclusive feed queue; write on it: queue.bind; read on it: basic.consume; read on
        # portal: queue.bind there, limited to the feed's keys by the topic "read" pattern. No write on any
        # exchange: it publishes nothing.
        feed = gateway_feed_queue_pattern(topology)
        return {"configure": _alternatives([feed]), "write": _alternatives([feed]),
                "read": _alternatives([feed, exchange]),
                "topic": {"write": NOTHING, "read": _alternatives(re.escape(key) for key in GATEWAY_FEED_KEYS)}}
    publishes = PUBLISHES.get(who, ())
    if who not in topology.services:  # the core system: publishes, owns no queue
        return {"configure": NOTHING, "write": _alternatives([exchange]) if publishes else NOTHING,
                "read": NOTHING, "topic": {"write": _alternatives(map(_key_pattern, publishes)), "read": NOTHING}}
    sq = topology.for_service(who)
    prefix = re.escape(sq.queue[:-len("events")])  # "<ns>.<svc>." — the namespace is part of every name
    own = prefix + r"(events|dead|retry\.[0-9]+|requeue)"
    return {
        "configure": _alternatives([own]),
        # write on its own queues lets it bind them (queue.bind needs write on the queue), on its own exchanges lets
        # it park retries and dead letters (<svc>.retry.<n>, <svc>.dead) and replay (<svc>.requeue); never portal.dlx
        "write": _alternatives([own] + ([exchange] if publishes else [])),
        # read on portal lets it bind its queue there; the topic "read" pattern limits the binding keys
        "read": _alternatives([own, exchange]),
        "topic": {"write": _alternatives(map(_key_pattern, publishes)),
                  "read": _alternatives(re.escape(key) for key in sq.bindings)},
    }


def export_permissions(topology: Topology, vhost: str = "/") -> dict:
    """RabbitMQ definitions holding only ``permissions`` and ``topic_permissions`` (users come from secrets)."""
    permissions, topic_permissions = [], []
    for user in users(topology):
        who = user[len(USER_PREFIX):]
        p = permissions_for(who, topology)
        permissions.append({"user": user, "vhost": vhost, "configure": p["configure"], "write": p["write"],
                            "read": p["read"]})
        topic_permissions.append({"user": user, "vhost": vhost, "exchange": topology.exchange,
                                  "write": p["topic"]["write"], "read": p["topic"]["read"]})
    return {"permissions": permissions, "topic_permissions": topic_permissions}
