"""A base for a service's integration events: typed dataclasses in ``domain/events.py``, not ``(name, dict)`` pairs.

    @dataclass(frozen=True)
    class PolicyEnrolled(IntegrationEvent):
        name: ClassVar[str] = "policy.enrolled"      # contracts/events/policy.enrolled.v1.json
        policy_number: str
        ...

The fields are the wire payload (``payload()``: dates and datetimes as ISO 8601); the unit of work writes
``(event.name, event.payload())`` to the outbox. ``tests/contract/test_contract_event_types.py`` proves every event
class and every consumer schema agrees with its JSON Schema in ``contracts/events/``. Plumbing only: no event of any
service lives here.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class IntegrationEvent:
    name: ClassVar[str]
    version: ClassVar[int] = 1
    #: fields the outbox blanks in its stored row once the broker confirmed the message (the sealed secrets)
    secret_fields: ClassVar[tuple[str, ...]] = ()
    #: attribute -> wire name, where the wire name cannot be an attribute (a field called ``name``)
    wire_names: ClassVar[dict[str, str]] = {}

    def fields(self) -> dict:
        """The fields as Python values, by their wire names (``payload()`` is the wire form)."""
        return {self.wire_names.get(f.name, f.name): getattr(self, f.name) for f in dataclasses.fields(self)}

    def payload(self) -> dict:
        return {name: _wire(value) for name, value in self.fields().items()}


def _wire(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value
