"""The invalidation feed without a broker: when it runs, what it does with each delivery, what it logs and counts.
Its subscription on the real RabbitMQ: tests/integration/test_gateway_feed.py (and the broker user's rights:
tests/integration/test_broker_users.py)."""
from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from gateway import cache as cache_module, feed
from gateway.app import create_app
from portal_common.bus import load_topology
from portal_common.config import ConfigError


class Recorder:
    def __init__(self, fail_on: str | None = None):
        self.calls: list[tuple] = []
        self.fail_on = fail_on

    def set_live(self, live: bool) -> None:
        self.calls.append(("live", live))

    def handle_event(self, event: str, body: dict) -> None:
        if event == self.fail_on:
            raise RuntimeError("the cache's own bug")
        self.calls.append((event, body))


class Delivery:
    """What py-amqp hands the consumer callback."""

    def __init__(self, routing_key: str, body: bytes):
        self.delivery_info = {"routing_key": routing_key}
        self.body = body


def counted(event: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("portal_gateway_feed_events_total", {"event": event, "outcome": outcome}) or 0.0


@pytest.fixture()
def recorder():
    return Recorder()


@pytest.fixture()
def a_feed(recorder):
    return feed.Feed("amqp://guest:guest@127.0.0.1:1//", load_topology(namespace="t"), recorder)


@pytest.fixture()
def fresh_process(monkeypatch):
    """As in a newly forked worker: no feed started in this process yet."""
    monkeypatch.setattr(feed, "_feed_pid", None)
    monkeypatch.setattr(feed, "_feed", None)
    for name in ("PORTAL_AMQP_URL", "PORTAL_GATEWAY_CACHE", "PORTAL_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_a_delivery_goes_to_the_cache_decoded(a_feed, recorder):
    before = counted("document.read", "applied")
    a_feed._on_message(Delivery("document.read", json.dumps({"document_id": "D-1", "customer_id": "C-1"}).encode()))
    assert recorder.calls == [("document.read", {"document_id": "D-1", "customer_id": "C-1"})]
    assert counted("document.read", "applied") == before + 1


def test_a_delivery_record_event_is_bound_and_makes_the_real_cache_forget_that_customers_lists():
    """The documents page shows each document's delivery record: documents' ``document.delivery_recorded`` (a
    download served by another process, notify's announcement recorded) reaches every process's cache."""
    kept = cache_module.GatewayCache()
    kept.set_live(True)
    a_feed = feed.Feed("amqp://guest:guest@127.0.0.1:1//", load_topology(namespace="t"), kept)
    assert "document.delivery_recorded" in a_feed.keys
    asked = []
    kept.listing("C-1", ("documents",), lambda: asked.append(1) or {"documents": []})
    kept.listing("C-2", ("documents",), lambda: asked.append(2) or {"documents": []})
    before = counted("document.delivery_recorded", "applied")
    a_feed._on_message(Delivery("document.delivery_recorded", json.dumps({
        "document_id": "D-1", "customer_id": "C-1", "what": "downloaded",
        "happened_at": "2026-12-05T10:00:00+00:00"}).encode()))
    assert counted("document.delivery_recorded", "applied") == before + 1
    kept.listing("C-1", ("documents",), lambda: asked.append(1) or {"documents": []})
    kept.listing("C-2", ("documents",), lambda: asked.append(2) or {"documents": []})
    assert asked == [1, 2, 1]  # C-1's list asked again, C-2's kept


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'["a list"]', b'"a string"', b""])
def test_an_undecodable_body_is_logged_without_its_content_counted_and_the_cache_forgets_everything(
        a_feed, recorder, body):
    before = counted("account.sessions_ended", "undecodable")
    with capture_logs() as logs:
        a_feed._on_message(Delivery("account.sessions_ended", body))
    # whom it was about cannot be read: an event without ids, on which the cache forgets everything
    assert recorder.calls == [("account.sessions_ended", {})]
    assert counted("account.sessions_ended", "undecodable") == before + 1
    [entry] = logs
    assert entry["event"] == "gateway_feed_undecodable_event" and entry["log_level"] == "warning"
    assert entry["event_type"] == "account.sessions_ended" and entry["size"] == len(body)
    if body:
        assert body.decode(errors="replace")[:5] not in json.dumps(entry, default=str)


def test_a_cache_that_fails_on_an_event_is_dropped_and_stays_subscribed(a_feed):
    """The invalidation may not have been applied: everything kept goes (set_live False), then on (still live)."""
    failing = Recorder(fail_on="policy.changed")
    a_feed.cache = failing
    before = counted("policy.changed", "failed")
    a_feed._on_message(Delivery("policy.changed", b'{"customer_id": "C-1"}'))
    assert failing.calls == [("live", False), ("live", True)]
    assert counted("policy.changed", "failed") == before + 1


def test_an_unexpected_routing_key_is_counted_as_other(a_feed, recorder):
    before = counted("other", "applied")
    a_feed._on_message(Delivery("something.else", b"{}"))
    assert counted("other", "applied") == before + 1


def test_no_feed_on_the_embedded_file_bus(fresh_process):
    """``make run``'s default: no RabbitMQ, no feed; the cache stays not live and pages ask the services."""
    assert feed.broker_url() is None
    assert feed.start() is None
    assert not cache_module.cache().live
    assert "not live" in feed.summary() and "PORTAL_AMQP_URL" in feed.summary()


def test_the_cache_setting_turns_the_feed_off(fresh_process, monkeypatch):
    monkeypatch.setenv("PORTAL_AMQP_URL", "amqp://portal-gateway:x@127.0.0.1:1/%2F")
    monkeypatch.setenv("PORTAL_GATEWAY_CACHE", "off")
    assert feed.start() is None
    assert "PORTAL_GATEWAY_CACHE=off" in feed.summary()
    monkeypatch.setenv("PORTAL_GATEWAY_CACHE", "maybe")
    with pytest.raises(ConfigError, match="PORTAL_GATEWAY_CACHE"):
        feed.summary()


def test_one_feed_per_process_started_once(fresh_process, monkeypatch):
    started = []
    monkeypatch.setattr(feed.Feed, "start", lambda self: started.append(self) or self)
    monkeypatch.setenv("PORTAL_AMQP_URL", "amqps://portal-gateway:x@rabbitmq.internal:5671/%2F")
    first = feed.start()
    assert first is not None and first.url.startswith("amqps://") and feed.start() is first
    assert started == [first]
    assert "each worker process" in feed.summary()
    monkeypatch.setattr(feed, "_feed_pid", -1)  # as seen from a process forked after it started
    assert feed.start() is not first and len(started) == 2


def test_a_feed_that_cannot_connect_leaves_the_cache_not_live(recorder):
    dead = feed.Feed("amqp://guest:guest@127.0.0.1:1//", load_topology(namespace="t"), recorder).start()
    try:
        from portal_common.testing import wait_until

        wait_until(lambda: dead.failures >= 1, timeout=10, message="the failed attempt")
        assert recorder.calls == [] and not dead.live
    finally:
        dead.stop()


def test_production_needs_the_broker_url_unless_the_cache_is_off(monkeypatch, fakes):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PORTAL_GATEWAY_TOKEN", "g" * 40)
    monkeypatch.setenv("PORTAL_PUBLIC_URL", "https://portal.biztosito.hu")
    monkeypatch.delenv("PORTAL_AMQP_URL", raising=False)
    monkeypatch.delenv("PORTAL_GATEWAY_CACHE", raising=False)
    with pytest.raises(ConfigError, match="PORTAL_AMQP_URL"):
        create_app({"CLIENTS": fakes})
    monkeypatch.setenv("PORTAL_GATEWAY_CACHE", "off")
    assert create_app({"CLIENTS": fakes}).config["GATEWAY_FEED"] is False


def test_gunicorn_starts_the_feed_in_each_worker_after_the_fork(monkeypatch, tmp_path):
    """Not in the master (no connection or thread may cross a fork): gateway/gunicorn.conf.py's worker hooks. The
    real thing, two workers with a feed each: tests/integration/test_gateway_feed.py."""
    import runpy
    from pathlib import Path

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config would set it for the whole process
    conf = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))
    assert conf["preload_app"] is False
    calls = []
    monkeypatch.setattr(feed, "start", lambda: calls.append("start"))
    monkeypatch.setattr(feed, "stop", lambda: calls.append("stop"))
    conf["post_worker_init"](object())
    conf["worker_exit"](object(), object())
    assert calls == ["start", "stop"]
