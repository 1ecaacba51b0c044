"""/home asks policies and documents at once (the declaration comes with the session check), carries the request's correlation id into each call, and a service that is
slow costs its box only (gateway.compose)."""
from __future__ import annotations

import threading

from .conftest import text

from gateway import compose
from portal_common import logs

GENEROUS = 30.0  # seconds; only reached when something is wrong


def _wrap(fake, method: str, before):
    original = getattr(fake, method)

    def wrapped(*args, **kwargs):
        before()
        return original(*args, **kwargs)

    setattr(fake, method, wrapped)


def test_home_asks_policies_and_documents_at_the_same_time(logged_in, fakes, monkeypatch):
    monkeypatch.setattr(compose, "DEADLINE", GENEROUS)
    # Each call waits until both have started: called one after the other, the first would wait in vain.
    everyone = threading.Barrier(2, timeout=GENEROUS / 2)
    seen: list[str | None] = []

    def meet():
        seen.append(logs.current_correlation_id())
        everyone.wait()

    for fake, method in ((fakes.policies, "customer_policies"), (fakes.documents, "list")):
        _wrap(fake, method, meet)
    asked = len(fakes.identity.calls)
    response = logged_in.get("/home")
    assert response.status_code == 200 and not everyone.broken
    assert 'id="partial-notice"' not in text(response)
    assert seen == [response.headers["X-Correlation-ID"]] * 2  # the page's id reached every call
    # identity is asked once per page: the session check, which also says whether there is a declaration
    assert [name for name, *_ in fakes.identity.calls[asked:]] == ["get_session"]


def test_a_service_slower_than_the_deadline_costs_its_box_not_the_page(logged_in, fakes, monkeypatch):
    monkeypatch.setattr(compose, "DEADLINE", 0.2)
    release = threading.Event()
    _wrap(fakes.policies, "customer_policies", lambda: release.wait(GENEROUS))
    try:
        response = logged_in.get("/home")
    finally:
        release.set()
    assert response.status_code == 200
    html = text(response)
    assert "Szerződései most átmenetileg nem jeleníthetők meg" in html
    assert "Dokumentumai most átmenetileg" not in html


def test_an_unexpected_error_of_one_call_is_the_page_error_as_before(logged_in, fakes, monkeypatch):
    from gateway.clients.http import RemoteError

    def boom():
        raise RemoteError("policies", 400, {"error": "bad_request"})

    _wrap(fakes.policies, "customer_policies", boom)
    response = logged_in.get("/home")
    assert response.status_code == 500 and "Legújabb dokumentumaim" not in text(response)
