"""Plumbing shared by every portal process. Nothing domain-specific lives here.

One change here redeploys every service, so it stays small: configuration, the bus (topology, publishing with
confirms), the transactional outbox and its relay, the idempotent consumer, health/metrics endpoints and logging.

The handler contract every service follows (docs/architecture.md, "The handler contract"):

- ``bootstrap.py`` declares ONE table ``EVENTS = {event: Route(schema, command, handler)}``
  (:mod:`portal_common.messagebus`) and builds one ``MessageBus(EVENTS, uow=…, joined_uow=…, **dependencies)``;
- a handler is a plain function ``handler(command, **dependencies)`` asking for ``uow``, ``message``, ``store`` …
  by parameter name; API routes call ``bus.handle(handler, command)``, the worker ``bus.handle_event(…)``;
- the unit of work (:mod:`portal_common.uow`) joins the worker's batch transaction; ``uow.after_commit(fn)`` runs
  once the batch has committed, never for rolled-back work;
- failures are typed (:mod:`portal_common.errors`): ``PermanentError`` -> dead letter at once, ``TransientError``
  -> the broker's retry tiers until the retry horizon (:mod:`portal_common.retry`), a database outage -> the batch
  is held; an unreadable delivery is a ``PoisonMessage`` (:mod:`portal_common.delivery`);
- library internals and transport differences live in :mod:`portal_common.compat` only.
"""
