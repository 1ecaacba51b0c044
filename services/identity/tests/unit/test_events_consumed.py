"""What identity does with the events routed to it."""
from identity import bootstrap
from identity.domain import commands
from identity.service_layer import handlers


def failed(**overrides):
    event = {"notification_id": "n-1", "cause_event_id": "e-1", "cause_event": "account.activated",
             "channel": "sms", "template": "initial_password", "account_id": None, "customer_id": "C-1001",
             "reason": "rejected by the SMS gateway: 400", "failed_at": "2026-11-21T10:00:00+00:00"}
    event.update(overrides)
    return event


def test_an_undeliverable_initial_password_sms_is_remembered(world, monkeypatch):
    account = world.active_account()
    monkeypatch.setattr(bootstrap.unit_of_work, "SessionUnitOfWork", lambda session: world.wiring.uow_factory())
    bootstrap.on_notification_failed(failed(account_id=account.account_id), None, None)
    assert world.handle(handlers.get_account, account.account_id).sms_status == "failed"


def test_other_failures_change_nothing(world, monkeypatch):
    account = world.active_account()
    monkeypatch.setattr(bootstrap.unit_of_work, "SessionUnitOfWork", lambda session: world.wiring.uow_factory())
    bootstrap.on_notification_failed(failed(account_id=account.account_id, channel="email"), None, None)
    bootstrap.on_notification_failed(failed(account_id=account.account_id, cause_event="account.credentials_reset",
                                            template="reset_notice"), None, None)
    bootstrap.on_notification_failed(failed(account_id=None), None, None)
    assert account.sms_status == "ok"


def test_a_failure_for_an_unknown_account_is_ignored(world, monkeypatch):
    monkeypatch.setattr(bootstrap.unit_of_work, "SessionUnitOfWork", lambda session: world.wiring.uow_factory())
    bootstrap.on_notification_failed(failed(account_id="no-such-account"), None, None)


def test_every_event_the_topology_routes_to_identity_has_a_handler():
    import json

    from portal_common import config

    topology = json.loads((config.contracts_dir() / "topology.json").read_text())
    assert set(topology["services"]["identity"]["bindings"]) == set(bootstrap.EVENT_HANDLERS)


def test_policy_upserted_is_acknowledged_without_effect(world):
    assert bootstrap.on_policy_upserted({"policy_number": "KGFB-1"}, None, None) is None


def test_mark_sms_failed_reports_whether_the_account_exists(world):
    account = world.active_account()
    assert world.handle(handlers.mark_sms_failed, commands.MarkSmsFailed(account.account_id)) is True
    assert world.handle(handlers.mark_sms_failed, commands.MarkSmsFailed("nope")) is False
