"""What a gateway process remembers between pages: sessions it has checked and the lists it has shown, kept only
while the bus tells it when they change (interface; being built).

``cache()`` is the process's one :class:`GatewayCache`. The invalidation feed (``gateway.feed``) calls
:meth:`GatewayCache.set_live` when its subscription is up or down and :meth:`GatewayCache.handle_event` for every
event it receives on :data:`ROUTING_KEYS`. While the feed is not live the cache answers nothing and keeps nothing:
every page asks the services, as without a cache.
"""
from __future__ import annotations

import threading

#: The events that change what the gateway shows a customer (routing keys on the ``portal`` exchange).
ROUTING_KEYS = (
    "account.sessions_ended",         # identity: sessions of an account ended (logout, password, recovery, closure)
    "customer.declared",              # identity: the declaration (step 0) was made ...
    "customer.declaration_withdrawn",  # ... or withdrawn: the session answer's declaration_active changes
    "document.available",             # documents: a new document in the customer's list
    "document.read",                  # documents: a document was opened for the first time (unread count)
    "policy.enrolled",                # policies: a policy joined ePosta
    "policy.changed",                 # policies: a registered customer's policy changed (from policy.upserted)
)


class GatewayCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live = False

    @property
    def live(self) -> bool:
        return self._live

    def set_live(self, live: bool) -> None:
        """The feed is subscribed (True) or lost its subscription (False). Either way everything kept is dropped:
        events may have been missed."""
        with self._lock:
            self._live = live

    def handle_event(self, event: str, body: dict) -> None:
        """One event from the feed (``event`` is its routing key, ``body`` the decoded JSON object)."""


_cache = GatewayCache()


def cache() -> GatewayCache:
    return _cache
