"""The gateway's cache (gateway/cache.py): what a page shows again without asking, and when it asks again.

Unit tests on :class:`GatewayCache` with a controllable clock, then the real app with the in-memory fake services and
a live cache: which internal requests a customer's pages make, and that an ended session or a changed list is never
shown from the cache. The feed that makes a cache live in production is tested in test_feed*.py on RabbitMQ.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.cache import LISTS_PER_CUSTOMER, ROUTING_KEYS, SESSION_EVENTS, GatewayCache, Settings
from gateway.clients.http import SessionExpired

from .conftest import PASSWORD, login, text

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = T0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def kept(clock):
    cache = GatewayCache(Settings(session_recheck_s=10, list_ttl_s=300, max_entries=100),
                         clock=lambda: clock.mono, wall=lambda: clock.wall)
    cache.set_live(True)
    return cache


class Asker:
    """A service call that counts how often it is made."""

    def __init__(self, answer) -> None:
        self.answer, self.count = answer, 0

    def __call__(self):
        self.count += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


SESSION = {"session_id": "s-1", "account_id": "A-1", "customer_id": "C-1", "must_change_password": False}


def test_while_the_feed_is_not_live_every_page_asks_and_nothing_is_kept(clock):
    cache = GatewayCache(Settings(), clock=lambda: clock.mono, wall=lambda: clock.wall)
    ask = Asker(SESSION)
    for _ in range(3):
        assert cache.session("s-1", ask) == SESSION
    assert ask.count == 3 and len(cache) == 0


def test_a_session_is_asked_again_after_the_recheck_interval(kept, clock):
    ask = Asker(SESSION)
    kept.session("s-1", ask)
    clock.advance(9.9)
    assert kept.session("s-1", ask) == SESSION
    assert ask.count == 1
    clock.advance(0.2)  # 10.1 s after identity's answer: identity is asked (and slides its idle timer)
    kept.session("s-1", ask)
    assert ask.count == 2


def test_an_ended_session_is_asked_again_at_once_when_identity_says_so(kept):
    ask = Asker(SESSION)
    kept.session("s-1", ask)
    kept.handle_event("account.sessions_ended", {"account_id": "A-1", "customer_id": "C-1", "reason": "logout"})
    ask.answer = SessionExpired("identity", 404, {"error": "expired"})
    with pytest.raises(SessionExpired):
        kept.session("s-1", ask)
    assert ask.count == 2


def test_an_expired_session_is_not_kept(kept):
    ask = Asker(SessionExpired("identity", 404, {"error": "expired"}))
    for _ in range(2):
        with pytest.raises(SessionExpired):
            kept.session("s-1", ask)
    assert ask.count == 2 and len(kept) == 0


def test_operators_see_hits_and_misses(kept):
    def seen(kind, outcome):
        return REGISTRY.get_sample_value("portal_gateway_cache_lookups_total",
                                         {"kind": kind, "outcome": outcome}) or 0.0

    before = {(kind, outcome): seen(kind, outcome) for kind in ("session", "list") for outcome in ("hit", "miss")}
    ask = Asker(SESSION)
    for _ in range(3):
        kept.session("s-1", ask)
    kept.listing("C-1", ("policies",), Asker([]))
    assert seen("session", "miss") - before["session", "miss"] == 1
    assert seen("session", "hit") - before["session", "hit"] == 2
    assert seen("list", "miss") - before["list", "miss"] == 1


def test_a_session_id_is_kept_only_as_its_hash(kept):
    kept.session("secret-session-id", Asker(SESSION))
    assert "secret-session-id" not in repr(list(kept._entries))


def test_an_answer_on_its_way_while_the_customer_changed_is_not_kept(kept):
    def ask():
        # identity answered, and while the answer travelled the customer's sessions ended
        kept.handle_event("account.sessions_ended", {"account_id": "A-1", "customer_id": "C-1"})
        return SESSION

    kept.session("s-1", ask)
    follow = Asker(SESSION)
    kept.session("s-1", follow)
    assert follow.count == 1


def test_losing_the_feed_drops_everything_and_an_answer_on_its_way_is_not_kept(kept):
    kept.session("s-1", Asker(SESSION))
    kept.listing("C-1", ("policies",), Asker([{"policy_number": "KGFB-1"}]))

    def ask():
        kept.set_live(False)
        kept.set_live(True)  # reconnected while the answer travelled: events may have been missed
        return SESSION

    kept.session("s-2", ask)
    assert len(kept) == 0


def test_list_events_drop_that_customers_lists_only(kept):
    policies_1, policies_2 = Asker([{"policy_number": "KGFB-1"}]), Asker([{"policy_number": "HOME-2"}])
    session = Asker(SESSION)
    kept.session("s-1", session)
    kept.listing("C-1", ("policies",), policies_1)
    kept.listing("C-2", ("policies",), policies_2)
    for event in ("document.available", "document.read", "document.delivery_recorded", "policy.enrolled",
                  "policy.changed"):
        kept.handle_event(event, {"customer_id": "C-1", "document_id": "D", "policy_number": "KGFB-1"})
        kept.listing("C-1", ("policies",), policies_1)
        kept.listing("C-2", ("policies",), policies_2)
        kept.session("s-1", session)
    assert policies_1.count == 6  # asked again after each of the five events
    assert policies_2.count == 1  # another customer's list stays
    assert session.count == 1  # a list event does not end a session


@pytest.mark.parametrize("event", ["customer.declared", "customer.declaration_withdrawn"])
def test_a_declaration_event_asks_the_session_again(kept, event):
    ask = Asker(SESSION)
    kept.session("s-1", ask)
    kept.handle_event(event, {"customer_id": "C-1"})
    kept.session("s-1", ask)
    assert ask.count == 2  # the answer's declaration_active may have changed


def test_an_event_it_knows_without_ids_drops_everything_and_others_are_ignored(kept):
    ask = Asker(SESSION)
    kept.session("s-1", ask)
    kept.handle_event("account.credentials_reset", {"account_id": "A-1"})  # not subscribed: nothing changes
    kept.session("s-1", ask)
    assert ask.count == 1
    kept.handle_event("account.sessions_ended", {"reason": "logout"})
    kept.session("s-1", ask)
    assert ask.count == 2


@pytest.mark.parametrize("body", [{"account_id": ["A-1"], "customer_id": 7}, {"account_id": {"id": "A-1"}},
                                  {"account_id": 1, "customer_id": None, "reason": "logout"}])
def test_an_event_whose_ids_are_not_ids_forgets_everything(kept, body):
    """An id of the wrong type matches no key: forgetting "it" would leave the ended session standing."""
    ask = Asker(SESSION)
    kept.session("s-1", ask)
    kept.handle_event("account.sessions_ended", body)
    kept.session("s-1", ask)
    assert ask.count == 2


class Identity:
    """identity for CachedIdentity: ``during_logout`` runs while the logout is on its way (before it ended the
    session), ``during_check`` while a check's answer (given while the session lived) is on its way."""

    def __init__(self) -> None:
        self.ended, self.checks = False, 0
        self.during_logout = self.during_check = None

    def get_session(self, session_id):
        self.checks += 1
        if self.ended:
            raise SessionExpired("identity", 404, {"error": "expired"})
        answer, during, self.during_check = dict(SESSION), self.during_check, None
        if during:
            during()
        return answer

    def logout(self, session_id):
        during, self.during_logout = self.during_logout, None
        if during:
            during()
        self.ended = True


def test_a_check_answered_before_this_process_served_the_logout_is_not_kept(kept):
    from gateway.cache import CachedIdentity

    identity = Identity()
    cached = CachedIdentity(identity, kept)
    # another tab's check: identity answered, and the logout was served here while the answer travelled
    identity.during_check = lambda: cached.logout("s-1")
    cached.get_session("s-1")
    with pytest.raises(SessionExpired):  # the cookie saved before the logout opens nothing
        cached.get_session("s-1")
    assert identity.checks == 2


def test_a_check_answered_while_the_logout_was_on_its_way_is_not_kept(kept):
    from gateway.cache import CachedIdentity

    identity = Identity()
    cached = CachedIdentity(identity, kept)
    # another tab's check, asked and answered after the logout left this process, before identity ended the session
    identity.during_logout = lambda: cached.get_session("s-1")
    cached.logout("s-1")
    with pytest.raises(SessionExpired):
        cached.get_session("s-1")
    assert identity.checks == 2


def test_a_documents_listing_is_kept_no_longer_than_its_next_expiry(kept, clock):
    listing = {"documents": [
        {"document_id": "D-1", "available_until": (T0 + timedelta(seconds=30)).isoformat(), "expired": False},
        {"document_id": "D-0", "available_until": (T0 - timedelta(days=1)).isoformat(), "expired": True},
    ], "unread": 1}
    ask = Asker(listing)
    kept.listing("C-1", ("documents",), ask)
    clock.advance(29)
    kept.listing("C-1", ("documents",), ask)
    assert ask.count == 1
    clock.advance(2)  # D-1's 13 months are over: the listing would show it as expired now
    kept.listing("C-1", ("documents",), ask)
    assert ask.count == 2


def test_lists_are_asked_again_after_their_time(kept, clock):
    ask = Asker([])
    kept.listing("C-1", ("policies",), ask)
    clock.advance(299)
    kept.listing("C-1", ("policies",), ask)
    clock.advance(2)
    kept.listing("C-1", ("policies",), ask)
    assert ask.count == 2


def test_at_most_max_entries_the_least_recently_used_go_first(kept):
    for n in range(150):
        kept.listing(f"C-{n}", ("policies",), Asker([]))
    assert len(kept) == 100
    again = Asker([])
    kept.listing("C-149", ("policies",), again)
    kept.listing("C-0", ("policies",), again)
    assert again.count == 1  # C-149 was kept, C-0 was dropped


def test_one_customer_s_made_up_filters_push_out_their_own_lists_not_others(clock):
    kept = GatewayCache(Settings(max_entries=1000), clock=lambda: clock.mono, wall=lambda: clock.wall)
    kept.set_live(True)
    others = Asker({"documents": []})
    for n in range(10):
        kept.listing(f"C-{n}", ("documents", None), others)
    mine = Asker({"documents": []})
    kept.listing("C-1", ("documents", "KGFB-1"), mine)  # the customer's real filter, used again below
    for n in range(LISTS_PER_CUSTOMER * 3):
        kept.listing("C-1", ("documents", f"made-up-{n}"), Asker({"documents": []}))
        if n % 10 == 0:
            kept.listing("C-1", ("documents", "KGFB-1"), mine)
    assert len(kept) == 10 + LISTS_PER_CUSTOMER - 1  # C-1's own listing without a filter was pushed out
    for n in range(10):
        if n != 1:
            kept.listing(f"C-{n}", ("documents", None), others)
    assert others.count == 10 + 0  # everybody else's lists are all still kept
    assert mine.count == 1  # and the one the customer keeps using too
    kept.listing("C-1", ("documents", None), others)
    assert others.count == 11


def test_every_routing_key_changes_something(kept):
    for event in ROUTING_KEYS:
        ask = Asker(SESSION)
        kept.session("s-1", ask)
        lists = Asker([])
        kept.listing("C-1", ("policies",), lists)
        kept.handle_event(event, {"account_id": "A-1", "customer_id": "C-1"})
        kept.session("s-1", ask)
        kept.listing("C-1", ("policies",), lists)
        if event in SESSION_EVENTS:  # the session's answer changes, and so may what the customer may see
            assert (ask.count, lists.count) == (2, 2), event
        else:
            assert (ask.count, lists.count) == (1, 2), event
        kept.set_live(True)


# The real app with the fake services and a live cache


@pytest.fixture()
def live_app(fakes, tmp_path, clock):
    cache = GatewayCache(Settings(session_recheck_s=10, list_ttl_s=300), clock=lambda: clock.mono,
                         wall=lambda: clock.wall)
    cache.set_live(True)
    fakes.documents.add_document(customer_id="C-1", title="Kötvény 2026")
    app = create_app({"CLIENTS": fakes, "CACHE": cache, "WTF_CSRF_ENABLED": False, "TESTING": True,
                      "DEV_VAR_DIR": str(tmp_path)})
    return app


def calls(fakes, name):
    return sum(1 for fake in (fakes.identity, fakes.policies, fakes.documents) for call in fake.calls
               if call[0] == name)


def test_a_home_page_seen_again_asks_no_service(live_app, fakes):
    client = live_app.test_client()
    assert login(client).status_code == 302
    first = client.get("/home")
    assert first.status_code == 200 and "Kötvény 2026" in text(first)
    before = {name: calls(fakes, name) for name in ("get_session", "customer_policies", "list")}
    again = client.get("/home")
    assert again.status_code == 200 and text(again).count("Kötvény 2026") == text(first).count("Kötvény 2026")
    assert {name: calls(fakes, name) for name in before} == before


def test_a_cookie_saved_before_logout_opens_nothing_afterwards(live_app, fakes):
    client = live_app.test_client()
    login(client)
    assert client.get("/home").status_code == 200
    stolen = client.get_cookie("portal_session").value
    client.post("/logout")
    thief = live_app.test_client()
    thief.set_cookie("portal_session", stolen)
    response = thief.get("/home")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_session_ended_elsewhere_ends_here_with_the_event(live_app, fakes, clock):
    client = live_app.test_client()
    login(client)
    assert client.get("/home").status_code == 200
    fakes.identity.sessions.clear()  # another gateway process logged this browser out (or a password change)
    assert client.get("/home").status_code == 200  # this process does not know yet
    live_app.extensions["cache"].handle_event("account.sessions_ended", {"account_id": "A-1", "customer_id": "C-1"})
    assert client.get("/home").status_code == 302


def test_a_session_ended_elsewhere_ends_here_within_the_recheck_even_without_the_event(live_app, fakes, clock):
    client = live_app.test_client()
    login(client)
    assert client.get("/home").status_code == 200
    fakes.identity.sessions.clear()
    clock.advance(10.5)
    assert client.get("/home").status_code == 302


def test_opening_a_document_shows_the_new_unread_count_at_once(live_app, fakes):
    client = live_app.test_client()
    login(client)
    document_id = next(iter(fakes.documents.docs))

    def unread_count() -> str:
        return re.sub(r"\s+", " ", text(client.get("/home")))

    before = unread_count()
    assert client.get(f"/documents/{document_id}/download").status_code == 200
    after = unread_count()
    assert fakes.documents.docs[document_id]["read"] and before != after
    listings = calls(fakes, "list")
    unread_count()
    assert calls(fakes, "list") == listings  # and kept again afterwards


@pytest.mark.parametrize("what", ["downloaded", "viewed", "a_value_added_later"])
def test_a_delivery_record_changed_elsewhere_shows_here_with_the_event(live_app, fakes, what):
    """Another gateway process served the download (or notify's announcement was recorded): this process's kept
    documents page still says "not yet" until documents' ``document.delivery_recorded`` arrives — whatever its
    ``what``, also one this gateway does not know yet."""
    client = live_app.test_client()
    login(client)
    document_id = next(iter(fakes.documents.docs))

    def downloaded() -> str:
        page = client.get("/documents")
        assert page.status_code == 200
        found = re.search(r'class="record-downloaded">(.*?)</dd>', page.get_data(as_text=True), re.DOTALL)
        return found.group(1).strip()

    not_yet = downloaded()
    fakes.documents.open_content("C-1", document_id, purpose="download")  # elsewhere: not through this cache
    assert downloaded() == not_yet  # kept: this process has not heard of it
    live_app.extensions["cache"].handle_event("document.delivery_recorded", {
        "document_id": document_id, "customer_id": "C-1", "what": what, "happened_at": "2026-12-05T10:00:00+00:00"})
    assert downloaded() != not_yet and "1" in downloaded()


def test_enrolling_a_policy_shows_it_enrolled_at_once(live_app, fakes):
    fakes.policies.add_policy("HOME-9", customer_id="C-1", product="home", payment_method="cheque", epost=False,
                              enrollable=True)
    client = live_app.test_client()
    login(client)
    assert "/policies/HOME-9/epost" in text(client.get("/policies"))  # offered
    assert "/policies/HOME-9/epost" in text(client.get("/policies"))  # (shown again from the cache)
    asked = calls(fakes, "customer_policies")
    assert client.post("/policies/HOME-9/epost").status_code == 302
    assert "/policies/HOME-9/epost" not in text(client.get("/policies"))  # enrolled: no longer offered
    assert calls(fakes, "customer_policies") == asked + 1  # the page after the change asked policies again


def test_a_password_change_asks_the_session_again(live_app, fakes):
    client = live_app.test_client()
    login(client)
    client.get("/home")
    asked = calls(fakes, "get_session")
    client.post("/account/password", data={"current_password": PASSWORD, "new_password": "another horse battery 9",
                                           "new_password_confirm": "another horse battery 9"})
    client.get("/home")
    assert calls(fakes, "get_session") == asked + 1  # the page after the change asked identity again
