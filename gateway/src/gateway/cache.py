"""What a gateway process remembers between pages: the sessions it has checked and the lists it has shown — kept
only while the bus tells it when they change.

Without it every logged-in page costs identity's session check, and ``/home`` also the customer's policies and
documents: three internal requests, ~1.9 ms of CPU each on top of the gateway's own ~1.6 ms (docs/benchmarks.md,
"The gateway alone"). With it a page seen again shows what the services said, as long as nothing has changed since:

- **Sessions** (identity's answer to ``GET /internal/sessions/<id>``): reused for at most
  ``PORTAL_GATEWAY_SESSION_RECHECK_SECONDS`` (10 s), then asked again, which also slides identity's idle timer.
  identity ends sessions (logout, a password change, recovery, closing the account) and publishes
  ``account.sessions_ended``; every gateway process forgets that account's sessions when the event arrives, and the
  process that served the logout or the change forgets them at once. So an ended session ends on every process
  within the event's delivery — and within 10 s even when identity's events are late. (identity's idle timer is
  slid at least every 10 s of use instead of on every page, so a session ends after 13 min 50 s to 15 min of
  idleness instead of 14 to 15.)
- **Lists** (the customer's policies and document listings): reused for at most
  ``PORTAL_GATEWAY_LIST_CACHE_SECONDS`` (300 s) and never past the moment a listed document's 13 months end;
  forgotten when the services say they changed (``document.available``, ``document.read``,
  ``document.delivery_recorded`` — the documents page shows each document's delivery record, which a download on
  another process or notify's announcement changes —, ``policy.enrolled``, ``policy.changed``, the declaration's
  events, ``account.sessions_ended``) and at once after the customer's own change on this process (any form the
  customer sends, opening a document).

**Only while the feed is live.** ``gateway.feed`` subscribes this process to :data:`ROUTING_KEYS` and calls
:meth:`GatewayCache.set_live`; while it is not subscribed (RabbitMQ unreachable, the embedded ``make run`` on the
file bus, ``PORTAL_GATEWAY_CACHE=off``) the cache answers nothing and keeps nothing — every page asks the services,
as it did before the cache. Losing or regaining the subscription drops everything kept (events may have been
missed), and an answer that was on its way while something of its customer changed is not kept (:meth:`_keep`).

Keys are a SHA-256 of the session id (the id itself is never kept) and the customer's id with the request's
parameters; at most ``PORTAL_GATEWAY_CACHE_ENTRIES`` (20,000) entries, the least recently used go first. Nothing
here is shared between processes: each gunicorn worker has its own cache and its own subscription.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from prometheus_client import Counter

from portal_common import config, logs
from portal_common.broker_users import GATEWAY_FEED_KEYS

log = logs.get_logger(__name__)

# Counted while the feed is live (otherwise nothing is looked up): the hit ratio is what the cache saves.
LOOKUPS = Counter("portal_gateway_cache_lookups_total", "Session checks and customer lists the gateway looked up in "
                  "its cache while its feed was live", ["kind", "outcome"])
FORGOTTEN = Counter("portal_gateway_cache_forgotten_total", "Entries the gateway's cache dropped on an event or on the "
                    "customer's own change")

#: The events that change what the gateway shows a customer (routing keys on the ``portal`` exchange). One list
#: with the broker user's binding rights (portal_common.broker_users, which must not import the gateway).
ROUTING_KEYS = GATEWAY_FEED_KEYS
#: Events after which the account's or customer's sessions are asked again (the others change only lists).
SESSION_EVENTS = frozenset({"account.sessions_ended", "customer.declared", "customer.declaration_withdrawn"})
#: How long to remember that a customer's data changed: longer than any service call may take (the clients'
#: read timeout is 10 s), so an answer that left the service before the change is never kept.
CHANGE_MEMORY_S = 60.0
#: At most this many lists are kept for one customer (a page of the documents list per filter, sort and page number
#: is one each): a customer sending made-up filters pushes out their own lists, not everybody else's.
LISTS_PER_CUSTOMER = 50


def session_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class _Entry:
    value: Any
    until: float  # monotonic deadline
    account_id: str | None = None
    customer_id: str | None = None
    used: int = 0  # when last kept or found (the cache's use counter): the customer's least recently used goes first


@dataclass
class Settings:
    session_recheck_s: float = 10.0
    list_ttl_s: float = 300.0
    max_entries: int = 20_000

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(session_recheck_s=float(config.env_int("PORTAL_GATEWAY_SESSION_RECHECK_SECONDS", 10)),
                   list_ttl_s=float(config.env_int("PORTAL_GATEWAY_LIST_CACHE_SECONDS", 300)),
                   max_entries=config.env_int("PORTAL_GATEWAY_CACHE_ENTRIES", 20_000))


class GatewayCache:
    def __init__(self, settings: Settings | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings or Settings()
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._live = False
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._by_owner: dict[str, set[tuple]] = {}  # "a:<account>" / "c:<customer>" -> keys of its entries
        # Changes are numbered, so that an answer asked before a change is recognised whatever the clock says:
        self._seq = 0
        # "a:<account>" / "c:<customer>" / "s:<session hash>" (this process's logout) -> (change no., when)
        self._changed: dict[str, tuple[int, float]] = {}
        self._all_changed = 0  # the number of the change that last dropped everything
        self._uses = 0

    # The feed's side
    @property
    def live(self) -> bool:
        return self._live

    def set_live(self, live: bool) -> None:
        """The feed is subscribed (True) or lost its subscription (False). Either way everything kept is dropped:
        events may have been missed, and an answer on its way now is not kept."""
        with self._lock:
            if live != self._live:
                log.info("gateway_cache_live" if live else "gateway_cache_off")
            self._live = live
            self._drop_all()

    def handle_event(self, event: str, body: dict) -> None:
        """One event from the feed (``event`` is its routing key, ``body`` the decoded JSON object)."""
        if event not in ROUTING_KEYS:
            return
        customer_id = body.get("customer_id") if isinstance(body, dict) else None
        account_id = body.get("account_id") if isinstance(body, dict) else None
        given = [value for value in (customer_id, account_id) if value is not None]
        # A known event without whom it is about, or with an id that is not one (a number, a list, ""): forget
        # everything. Such an id matches no key, so forgetting "it" would silently leave the session standing.
        if not given or not all(isinstance(value, str) and value for value in given):
            log.warning("gateway_cache_event_without_ids", event_name=event)
            with self._lock:
                self._drop_all()
            return
        self.forget(customer_id=customer_id, account_id=account_id, sessions=event in SESSION_EVENTS)

    # The pages' side
    def forget(self, customer_id: str | None = None, account_id: str | None = None, sessions: bool = True) -> None:
        """Drop what is kept for the customer (their lists, and their sessions unless ``sessions`` is False) and
        for the account's sessions; an answer for them that is on its way now is not kept."""
        with self._lock:
            now = self._clock()
            self._seq += 1
            if customer_id:
                self._changed[f"c:{customer_id}"] = (self._seq, now)
            if account_id:
                self._changed[f"a:{account_id}"] = (self._seq, now)
            doomed = set()
            for owner in (f"c:{customer_id}" if customer_id else None, f"a:{account_id}" if account_id else None):
                doomed.update(key for key in self._by_owner.get(owner, ()) if sessions or key[0] != "session")
            for key in doomed:
                self._remove(key)
            FORGOTTEN.inc(len(doomed))
            if len(self._changed) > 4 * self.settings.max_entries:
                horizon = now - CHANGE_MEMORY_S
                self._changed = {k: v for k, v in self._changed.items() if v[1] >= horizon}

    def forget_session(self, session_id: str) -> None:
        """This process ended the session (its logout): drop its check, and an answer for it on its way now (given
        before the logout) is not kept."""
        key = ("session", session_key(session_id))
        with self._lock:
            self._seq += 1
            self._changed[f"s:{key[1]}"] = (self._seq, self._clock())
            self._remove(key)

    def session(self, session_id: str, ask: Callable[[], dict]) -> dict:
        """identity's answer for ``session_id``: the kept one while it is fresh, else ``ask()``'s (kept when the
        feed is live). Exceptions of ``ask`` (SessionExpired, ServiceUnavailable) pass through; nothing is kept."""
        key = ("session", session_key(session_id))
        found = self._get(key)
        if found is not None:
            return dict(found)
        started = self._started()
        answer = ask()
        if self.settings.session_recheck_s > 0:
            self._keep(key, answer, started, self.settings.session_recheck_s,
                       customer_id=answer.get("customer_id"), account_id=answer.get("account_id"))
        return answer

    def listing(self, customer_id: str, what: tuple, ask: Callable[[], Any]) -> Any:
        """A list of the customer's (``what`` names it with its parameters, e.g. ``("policies",)``): the kept one
        while fresh, else ``ask()``'s. A documents listing is kept no longer than its first ``available_until``
        still to come (the document then shows as expired)."""
        key = ("list", customer_id, *what)
        found = self._get(key)
        if found is not None:
            return found
        started = self._started()
        answer = ask()
        ttl = min(self.settings.list_ttl_s, self._until_next_expiry(answer))
        if ttl > 0:
            self._keep(key, answer, started, ttl, customer_id=customer_id)
        return answer

    # Inside
    def _get(self, key: tuple) -> Any:
        if not self._live:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.until <= self._clock():
                self._remove(key)
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
                self._uses += 1
                entry.used = self._uses
        LOOKUPS.labels(key[0], "miss" if entry is None else "hit").inc()
        return None if entry is None else entry.value

    def _started(self) -> tuple[int, float]:
        """When an answer is asked: (the last change's number, the clock)."""
        with self._lock:
            return self._seq, self._clock()

    def _keep(self, key: tuple, value: Any, started: tuple[int, float], ttl: float, customer_id: str | None = None,
              account_id: str | None = None) -> None:
        """Keep ``value``, asked at ``started``, unless the feed is not live or something of its customer or
        account changed (or everything was dropped) since: the answer may predate the change."""
        seq, asked_at = started
        with self._lock:
            if not self._live or self._all_changed > seq:
                return
            for changed in (f"c:{customer_id}" if customer_id else None, f"a:{account_id}" if account_id else None,
                            f"s:{key[1]}" if key[0] == "session" else None):  # forget_session
                if changed and self._changed.get(changed, (0, 0.0))[0] > seq:
                    return
            self._remove(key)
            self._uses += 1
            self._entries[key] = _Entry(value, asked_at + ttl, account_id=account_id, customer_id=customer_id,
                                        used=self._uses)
            for owner in self._owners(self._entries[key]):
                self._by_owner.setdefault(owner, set()).add(key)
            if key[0] == "list" and customer_id:
                lists = [k for k in self._by_owner[f"c:{customer_id}"] if k[0] == "list"]
                if len(lists) > LISTS_PER_CUSTOMER:
                    self._remove(min(lists, key=lambda k: self._entries[k].used))
            while len(self._entries) > self.settings.max_entries:
                self._remove(next(iter(self._entries)))  # the least recently used

    @staticmethod
    def _owners(entry: _Entry) -> list[str]:
        return [owner for owner in (f"c:{entry.customer_id}" if entry.customer_id else None,
                                    f"a:{entry.account_id}" if entry.account_id else None) if owner]

    def _remove(self, key: tuple) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for owner in self._owners(entry):
            keys = self._by_owner.get(owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_owner[owner]

    def _drop_all(self) -> None:
        self._entries.clear()
        self._by_owner.clear()
        self._changed.clear()
        self._seq += 1
        self._all_changed = self._seq

    def _until_next_expiry(self, answer: Any) -> float:
        """Seconds until the first listed document's ``available_until`` still to come (inf when none)."""
        documents = answer.get("documents") if isinstance(answer, dict) else None
        if not documents:
            return float("inf")
        now = self._wall()
        soonest = float("inf")
        for document in documents:
            raw = document.get("available_until") if isinstance(document, dict) else None
            if not raw or document.get("expired"):
                continue
            try:
                until = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                return 0.0  # a date we cannot read: do not keep the listing
            if until.tzinfo is None:
                until = until.replace(tzinfo=timezone.utc)
            soonest = min(soonest, (until - now).total_seconds())
        return soonest

    def __len__(self) -> int:
        return len(self._entries)


_cache: GatewayCache | None = None
_cache_lock = threading.Lock()


def cache() -> GatewayCache:
    """The process's one cache (made on first use, with the settings of the environment)."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = GatewayCache(Settings.from_env())
        return _cache


class _Through:
    """A client of a service with some calls answered from the cache; everything else goes to the client itself
    (attributes too, so a test's fake can still be set up through it)."""

    def __init__(self, inner: Any, kept: GatewayCache) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_kept", kept)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


class CachedIdentity(_Through):
    def get_session(self, session_id: str) -> dict:
        return self._kept.session(session_id, lambda: self._inner.get_session(session_id))

    def logout(self, session_id: str) -> None:
        self._kept.forget_session(session_id)
        try:
            return self._inner.logout(session_id)
        finally:
            # Again once identity ended it: an answer identity gave before, still on its way, is not kept.
            self._kept.forget_session(session_id)


class CachedPolicies(_Through):
    def customer_policies(self, customer_id: str) -> list[dict]:
        return self._kept.listing(customer_id, ("policies",), lambda: self._inner.customer_policies(customer_id))


class CachedDocuments(_Through):
    def list(self, customer_id: str, *args: Any, **params: Any) -> dict:
        what = ("documents", args, tuple(sorted((k, v) for k, v in params.items() if v is not None)))
        return self._kept.listing(customer_id, what, lambda: self._inner.list(customer_id, *args, **params))

    def open_content(self, customer_id: str, *args: Any, **kwargs: Any):
        """Opening a document marks it read: the customer's lists change (their unread count)."""
        try:
            return self._inner.open_content(customer_id, *args, **kwargs)
        finally:
            self._kept.forget(customer_id=customer_id, sessions=False)


def with_cache(clients: Any, kept: GatewayCache) -> Any:
    """The same :class:`~gateway.clients.Clients`, with the session check and the customer's lists through
    ``kept``."""
    return type(clients)(identity=CachedIdentity(clients.identity, kept), policies=CachedPolicies(clients.policies, kept),
                         documents=CachedDocuments(clients.documents, kept), notify=clients.notify)
