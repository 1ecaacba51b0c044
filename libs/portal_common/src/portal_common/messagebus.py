"""The handler contract: one table of events, dependencies injected by name (cosmicpython's bootstrap/messagebus).

A service declares, in ONE table, what each event it consumes means::

    EVENTS = {
        "document.uploaded": Route(DocumentUploadedSchema, commands.IngestDocument, handlers.ingest_document),
        "policy.upserted":   Route(PolicyUpsertedSchema, commands.RecordPolicyOwner.from_event,
                                   handlers.record_policy_owner),
    }

- ``schema`` (marshmallow, ``unknown = EXCLUDE``) checks the message body and loads the fields the service reads;
- ``command(**fields)`` turns them into the service's command (a dataclass, or its ``from_event`` classmethod);
- ``handler(command, **dependencies)`` is a plain function of the service layer; it asks for its dependencies by
  parameter name (``uow``, ``store``, ``clock``, ``message`` …);
- ``locks(command)`` (optional) names the rows the handler writes, e.g. ``lambda c: [f"document:{c.document_id}"]``:
  a worker that applies several batches at once locks every batch's names first, in one order (PostgreSQL
  advisory locks, see :mod:`portal_common.consumer`), so two batches that write the same rows in different
  orders wait for each other instead of deadlocking. The command is built once for both: :meth:`MessageBus.locked`
  builds it before the batch, and :meth:`MessageBus.handle_event` hands that same command to the handler.

``bootstrap()`` builds one :class:`MessageBus` with the unit of work and the dependencies, and every entry point
uses it the same way::

    bus.handle(handlers.enrol_policy, commands.EnrolPolicy(...))   # an API route, a CLI, a test: own transaction
    bus.handle_event(message, fields, session, after_commit)       # the consumer: inside the batch's transaction

Inside the worker the unit of work *joins* the consumer's transaction (its ``commit()`` only flushes; the consumer
commits the batch, then acks), and ``uow.after_commit(fn)`` runs ``fn()`` once that commit happened — never for
work that was rolled back. See docs/architecture.md ("one event through the code").
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Iterable

from marshmallow import Schema

from .uow import AfterCommit


@dataclass(frozen=True)
class Route:
    """What one event means to the service: how to read it, what to do, who does it."""

    schema: type[Schema] | Schema
    command: Callable[..., Any]
    handler: Callable[..., Any]
    #: the contract version(s) this service reads (contracts/events/<name>.v<N>.json, header ``version``): one
    #: number, or a tuple when the fields it reads are the same in several versions.
    version: int | tuple[int, ...] = 1
    #: the names of the rows ``handler`` writes for a command (see the module docstring); None: nothing to lock
    locks: Callable[[Any], Iterable[str]] | None = None

    @property
    def versions(self) -> tuple[int, ...]:
        return self.version if isinstance(self.version, tuple) else (self.version,)

    @cached_property
    def _schema(self) -> Schema:
        # One instance per route, made once: building a marshmallow schema costs more than loading a small message
        # (make bench-bus). ``load`` keeps no state on the instance, so the consumer threads of a worker share it.
        return self.schema() if isinstance(self.schema, type) else self.schema

    def load(self, body: dict) -> dict:
        return self._schema.load(body)


@dataclass(frozen=True)
class Locked:
    """A message whose route names the rows its handler writes: its command (built once, for the names and then for
    the handler) and those names."""

    command: Any
    names: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    """What the consumer knows about one delivery, for handlers that need it (ask for ``message``)."""

    message_id: str
    event: str  # the routing key: the only event name the broker checked
    version: int
    correlation_id: str
    occurred_at: Any  # datetime | None: when the event happened, per its publisher
    headers: dict
    redelivered: bool = False
    attempts: int = 0  # earlier deliveries that failed transiently (x-attempts)


class PerCall:
    """A dependency computed at each call, e.g. ``now=PerCall(clock)``."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


@functools.lru_cache(maxsize=1024)
def _parameters(handler: Callable) -> tuple[tuple[str, inspect.Parameter], ...]:
    """A handler's parameters, read once per handler (``inspect.signature`` costs tens of microseconds, and every
    API request goes through :meth:`MessageBus.handle`)."""
    return tuple(inspect.signature(handler).parameters.items())


class MessageBus:
    """Routes events to handlers (one table) and injects each handler's dependencies by parameter name.

    ``uow()`` makes a unit of work that owns its transaction (API, CLI); ``joined_uow(session, after_commit)`` one
    that joins the consumer's transaction. Both must offer ``after_commit(fn)``.
    """

    def __init__(self, events: dict[str, Route], *, uow: Callable[[], Any],
                 joined_uow: Callable[[Any, AfterCommit], Any], **dependencies):
        self.events = dict(events)
        self.uow = uow
        self.joined_uow = joined_uow
        self.dependencies = dependencies

    def handle(self, handler: Callable, *args, **given):
        """Call ``handler`` with the dependencies it names, and ``args`` for its other parameters, in order:
        ``bus.handle(handlers.get_policy, "KGFB-1")`` calls ``get_policy(uow=<new uow>, policy_number="KGFB-1")``.
        ``given`` overrides a dependency (the consumer's joined ``uow``, the ``message``). A parameter named like a
        dependency always gets the dependency: give dependencies names no handler uses for its own arguments."""
        available = {**self.dependencies, **given}
        injected, rest = {}, []
        for name, param in _parameters(handler):
            if name in available:
                value = available[name]
                injected[name] = value.fn() if isinstance(value, PerCall) else value
            elif name == "uow":
                injected[name] = self.uow()
            elif param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                rest.append(name)
        if len(args) > len(rest):
            raise TypeError(f"{handler.__name__}() takes {len(rest)} arguments besides its dependencies")
        return handler(**injected, **dict(zip(rest, args)))

    def locked(self, message: Message, fields: dict) -> Locked | None:
        """For a route with ``locks``: the message's command and the names of the rows its handler will write, known
        before the batch runs (the consumer locks them first). None for a route without ``locks``: its command is
        built when its handler runs."""
        route = self.events[message.event]
        if route.locks is None:
            return None
        command = route.command(**fields)
        return Locked(command, tuple(route.locks(command)))

    def handle_event(self, message: Message, fields: dict, session, after_commit: AfterCommit,
                     locked: Locked | None = None):
        """The consumer's entry: ``fields`` were loaded by the route's schema; ``locked`` is what :meth:`locked`
        returned for them, whose command the handler gets instead of one built again."""
        route = self.events[message.event]
        command = locked.command if locked is not None else route.command(**fields)
        return self.handle(route.handler, command, uow=self.joined_uow(session, after_commit), message=message)


def ignore(command=None) -> None:
    """A handler that deliberately does nothing (the topology routes an event the service does not need yet)."""


@dataclass(frozen=True)
class Ignored:
    """The command of an ignored event: keeps no field."""

    @classmethod
    def from_event(cls, **_fields) -> "Ignored":
        return cls()
