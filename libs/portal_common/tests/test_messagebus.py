"""The handler contract: one table of routes, dependencies by parameter name, the same way for API and worker."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from marshmallow import EXCLUDE, Schema, fields

from portal_common.messagebus import Message, MessageBus, PerCall, Route
from portal_common.uow import AfterCommit


class EnrolSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    policy_number = fields.String(required=True)


@dataclass(frozen=True)
class Enrol:
    policy_number: str


class Uow:
    def __init__(self, label, after=None):
        self.label, self.after = label, after


def enrol(cmd: Enrol, uow, clock, message=None):
    return cmd.policy_number, uow.label, clock, message.message_id if message else None


def get_policy(uow, policy_number: str):
    return uow.label, policy_number


@pytest.fixture
def bus():
    ticks = iter(range(100))
    return MessageBus({"policy.enrolled": Route(EnrolSchema, Enrol, enrol)}, uow=lambda: Uow("owned"),
                      joined_uow=lambda session, after: Uow(f"joined:{session}", after), clock=PerCall(
                          lambda: next(ticks)))


def test_an_api_route_gets_a_unit_of_work_of_its_own_and_the_dependencies_it_names(bus):
    assert bus.handle(enrol, Enrol("KGFB-1")) == ("KGFB-1", "owned", 0, None)
    assert bus.handle(enrol, Enrol("KGFB-2")) == ("KGFB-2", "owned", 1, None)  # PerCall: asked anew each time


def test_positional_arguments_fill_the_parameters_that_are_not_dependencies(bus):
    assert bus.handle(get_policy, "KGFB-1") == ("owned", "KGFB-1")
    with pytest.raises(TypeError):
        bus.handle(get_policy, "KGFB-1", "one too many")


def test_the_worker_reaches_the_same_handler_through_the_table_with_a_joined_unit_of_work(bus):
    message = Message("m-1", "policy.enrolled", 1, "c-1", None, {})
    after = AfterCommit()
    fields_ = bus.events["policy.enrolled"].load({"policy_number": "KGFB-9", "other": "ignored"})
    assert bus.handle_event(message, fields_, "session-1", after) == ("KGFB-9", "joined:session-1", 0, "m-1")


def test_after_commit_groups_each_items_into_one_call_and_forgets_on_clear():
    calls = []
    after = AfterCommit()
    after.add_each(calls.append, ("inbox", "a.pdf"))
    other = AfterCommit()
    other.add_each(calls.append, ("inbox", "b.pdf"))
    other.add(lambda: calls.append("counted"))
    after.absorb(other)
    after.run()
    assert calls == [[("inbox", "a.pdf"), ("inbox", "b.pdf")], "counted"]
    after.add(lambda: calls.append("never"))
    after.clear()
    after.run()
    assert calls[-1] == "counted"


def test_a_failing_after_commit_call_is_logged_not_raised():
    calls = []
    after = AfterCommit()
    after.add(lambda: 1 / 0)
    after.add(lambda: calls.append("still runs"))
    after.run()
    assert calls == ["still runs"]


def test_a_route_reads_the_versions_it_names_and_dead_letters_the_others():
    from types import SimpleNamespace

    from portal_common.delivery import Limits, decode, identify
    from portal_common.errors import PoisonMessage

    events = {"policy.enrolled": Route(EnrolSchema, Enrol, enrol, version=(1, 2))}

    def raw(version):
        return SimpleNamespace(body=b'{"policy_number": "KGFB-1"}', headers={"version": version},
                               properties={"message_id": "m-1"}, delivery_info={"routing_key": "policy.enrolled"},
                               content_type="application/json", content_encoding="utf-8")

    for version in (1, 2):
        message, fields_ = decode(raw(version), identify(raw(version)), events, Limits())
        assert message.version == version and fields_ == {"policy_number": "KGFB-1"}
    with pytest.raises(PoisonMessage, match=r"unsupported version 3 of 'policy.enrolled' \(this service reads v1, v2\)"):
        decode(raw(3), identify(raw(3)), events, Limits())


def test_a_route_with_locks_builds_its_command_once_for_the_names_and_the_handler():
    built = []

    def command(**fields_):
        built.append(fields_)
        return Enrol(**fields_)

    bus = MessageBus({"policy.enrolled": Route(EnrolSchema, command, enrol,
                                               locks=lambda cmd: [f"policy:{cmd.policy_number}"])},
                     uow=lambda: Uow("owned"), joined_uow=lambda session, after: Uow(f"joined:{session}", after),
                     clock=0)
    message = Message("m-1", "policy.enrolled", 1, "c-1", None, {})
    fields_ = {"policy_number": "KGFB-9"}
    locked = bus.locked(message, fields_)
    assert locked.names == ("policy:KGFB-9",)
    assert bus.handle_event(message, fields_, "session-1", AfterCommit(), locked) == ("KGFB-9", "joined:session-1",
                                                                                      0, "m-1")
    assert built == [fields_]
    assert MessageBus({"policy.enrolled": Route(EnrolSchema, Enrol, enrol)}, uow=None, joined_uow=None).locked(
        message, fields_) is None  # no locks: nothing to build before the batch


def test_the_worker_builds_each_message_s_command_once_and_its_handler_gets_the_one_its_locks_named(tmp_path):
    import json
    from types import SimpleNamespace

    from portal_common.bus import load_topology
    from portal_common.consumer import Worker, _Delivery
    from portal_common.testing import OCCURRED_AT, AppliedLog, FakePublisher, numbered_payload, plumbing_bus

    @dataclass(frozen=True)
    class Numbered:
        n: int
        action: str

    built, named, handled = [], [], []
    log = AppliedLog(tmp_path / "applied.db")

    def command(**fields_):
        built.append(fields_["n"])
        return Numbered(**fields_)

    def locks(cmd):
        named.append(cmd)
        return [f"n:{cmd.n}"]

    def handler(cmd, *, uow, message):
        handled.append(cmd)
        log.record(uow.session, message.message_id, cmd.n)

    bus = plumbing_bus(handler, ["policy.upserted"], schema=numbered_payload(), locks=locks, command=command)

    def raw(n):
        message_id = f"m-{n}"
        return SimpleNamespace(body=json.dumps({"n": n}).encode(), properties={"message_id": message_id},
                               headers={"event": "policy.upserted", "version": 1, "occurred_at": OCCURRED_AT,
                                        "correlation_id": message_id},
                               delivery_info={"routing_key": "policy.upserted"}, content_type="application/json",
                               content_encoding="utf-8")

    worker = Worker("policies", bus, log.session_factory, load_topology(namespace=""), publisher=FakePublisher())
    batch = [_Delivery(raw(n)) for n in (1, 2, 3)]
    worker._process(batch, worker.publisher, None)
    assert [d.outcome for d in batch] == ["applied"] * 3 and log.applied() == [1, 2, 3]
    assert built == [1, 2, 3]  # once per message: not again for the handler
    assert len(handled) == 3 and all(h is n for h, n in zip(handled, named))
    log.dispose()
