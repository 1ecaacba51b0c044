"""What identity does with the events routed to it (the EVENTS table: schema -> command -> handler)."""
from identity import bootstrap
from identity.domain import commands
from identity.service_layer import handlers


def failed(**overrides):
    event = {"notification_id": "n-1", "cause_event_id": "e-1", "cause_event": "account.activated",
             "channel": "sms", "template": "initial_password", "account_id": None, "customer_id": "C-1001",
             "reason": "rejected by the SMS gateway: 400", "failed_at": "2026-11-21T10:00:00+00:00"}
    event.update(overrides)
    return event


def consume(world, event: str, body: dict):
    """The route of ``event`` as the worker applies it: schema, command, handler (with a fake unit of work)."""
    route = bootstrap.EVENTS[event]
    return world.handle(route.handler, route.command(**route.load(body)))


def test_an_undeliverable_initial_password_sms_is_remembered(world):
    account = world.active_account()
    assert consume(world, "notification.failed", failed(account_id=account.account_id)) is True
    assert world.handle(handlers.get_account, account.account_id).sms_status == "failed"


def test_other_failures_change_nothing(world):
    account = world.active_account()
    assert consume(world, "notification.failed", failed(account_id=account.account_id, channel="email")) is False
    assert consume(world, "notification.failed", failed(account_id=account.account_id,
                                                        cause_event="account.credentials_reset",
                                                        template="reset_notice")) is False
    assert consume(world, "notification.failed", failed(account_id=None)) is False
    assert world.handle(handlers.get_account, account.account_id).sms_status == "ok"


def test_a_failure_for_an_unknown_account_is_ignored(world):
    assert consume(world, "notification.failed", failed(account_id="no-such-account")) is False


def test_every_event_the_topology_routes_to_identity_has_a_route():
    import json

    from portal_common import config

    topology = json.loads((config.contracts_dir() / "topology.json").read_text())
    assert set(topology["services"]["identity"]["bindings"]) == set(bootstrap.EVENTS)


def test_policy_upserted_is_acknowledged_without_effect(world):
    assert consume(world, "policy.upserted", {"policy_number": "KGFB-1"}) is None
    assert world.published == []


def test_mark_sms_failed_reports_whether_the_account_exists(world):
    account = world.active_account()
    assert world.handle(handlers.mark_sms_failed, commands.MarkSmsFailed(account.account_id)) is True
    assert world.handle(handlers.mark_sms_failed, commands.MarkSmsFailed("nope")) is False
