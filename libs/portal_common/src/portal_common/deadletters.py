"""``portal-deadletters``: list, show, replay and purge a service's dead letters.

    portal-deadletters list [SERVICE …] [--event E] [--reason TEXT] [--older-than 2h]
    portal-deadletters show SERVICE MESSAGE_ID
    portal-deadletters replay SERVICE (MESSAGE_ID … | --all | --event E / --reason TEXT / --older-than 2h)
    portal-deadletters purge SERVICE (MESSAGE_ID … | --all | filters) [--yes]

Nothing is lost while browsing: on RabbitMQ each dead letter is taken with ``basic.get`` *without* ack and held
unacknowledged until the command is done; the ones not chosen are given back (``basic.nack`` with requeue, or the
broker does it when the connection drops — also when this command crashes or is killed). At most as many messages
as the queue held at the start are taken, so letters arriving meanwhile are neither skipped forever nor looped on.

A replay publishes the dead letter's body and properties (same ``message_id``) to ``<service>.requeue`` with the
original event name as routing key, waits for the broker's confirm, and only then acks the dead letter. A crash in
between leaves the letter in the queue *and* replayed; replaying it again is harmless, because every consumer
applies a message id once. The replayed message starts with a fresh attempt count (``x-replays`` counts replays).

On the embedded file bus (no ``PORTAL_AMQP_URL``) the dead letters are the ``*.<service>.dead.msg`` files under
``var/bus/data``: they are read in place, replayed by publishing a copy, and deleted only after that.

Exit codes: 0 done, 1 broker unreachable or topology missing, 2 usage (unknown service, nothing matched for a
replay/purge by id), 3 a replay was refused by the broker (the letter stays in the queue).
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import socket
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import amqp

from . import config, logs
from .metrics import DEAD_LETTER_QUEUE
from .bus import Topology, connect, declare_topology, is_amqp, load_topology
from .compat import virtual_route

log = logs.get_logger(__name__)

#: Headers that describe a failure: dropped on replay, so the replayed message gets the full retry budget again.
FAILURE_HEADERS = ("x-dead-", "x-attempts", "x-first-failure-", "x-last-failure-", "x-death", "x-retry-",
                   "portal-retry-", "x-first-death-",
                   "x-last-death-", "x-delivery-count")


# --------------------------------------------------------------------------------------------------------- the letters
@dataclass
class DeadLetter:
    service: str
    message_id: str
    routing_key: str
    body: bytes
    properties: dict
    headers: dict
    handle: object = field(default=None, repr=False)  # delivery tag (RabbitMQ) or file path (file bus)

    @property
    def event(self) -> str:
        """The original event name: the consumer's ``x-dead-routing-key``; for a letter the broker dead-lettered
        itself (delivery limit), the routing key in ``x-death``."""
        if self.headers.get("x-dead-routing-key"):
            return str(self.headers["x-dead-routing-key"])
        death = _first_death(self.headers)
        keys = death.get("routing-keys") or []
        if keys:
            return str(keys[0])
        # A letter from a consumer older than x-dead-routing-key: the publisher's own statement of the event.
        return str(self.properties.get("type") or self.headers.get("event") or self.routing_key)

    @property
    def reason(self) -> str:
        if self.headers.get("x-dead-reason"):
            return str(self.headers["x-dead-reason"])
        death = _first_death(self.headers)
        return f"broker: {death.get('reason')}" if death else "(no reason recorded)"

    @property
    def dead_at(self) -> datetime | None:
        return _parse_time(self.headers.get("x-dead-at")) or _parse_time(_first_death(self.headers).get("time"))

    @property
    def first_failure_at(self) -> datetime | None:
        return _parse_time(self.headers.get("x-first-failure-at")) or self.dead_at

    @property
    def first_failure_reason(self) -> str:
        return str(self.headers.get("x-first-failure-reason") or self.reason)

    @property
    def attempts(self) -> int:
        try:
            return int(self.headers.get("x-attempts") or _first_death(self.headers).get("count") or 1)
        except (TypeError, ValueError):
            return 1

    def replay_headers(self) -> dict:
        kept = {k: v for k, v in self.headers.items() if not k.startswith(FAILURE_HEADERS)}
        try:
            kept["x-replays"] = int(self.headers.get("x-replays") or 0) + 1
        except (TypeError, ValueError):
            kept["x-replays"] = 1
        return kept


def _first_death(headers: dict) -> dict:
    deaths = headers.get("x-death")
    return deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}


def _parse_time(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Filter:
    message_ids: frozenset[str] = frozenset()
    event: str | None = None
    reason: str | None = None
    older_than: timedelta | None = None
    everything: bool = False

    @property
    def empty(self) -> bool:
        return not (self.message_ids or self.event or self.reason or self.older_than or self.everything)

    def matches(self, letter: DeadLetter, now: datetime) -> bool:
        if self.message_ids and letter.message_id not in self.message_ids:
            return False
        if self.event and letter.event != self.event:
            return False
        if self.reason and self.reason.lower() not in letter.reason.lower():
            return False
        if self.older_than:
            dead_at = letter.dead_at
            if dead_at is None or now - dead_at < self.older_than:
                return False
        return True


def parse_age(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``3d`` -> timedelta."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not m:
        raise argparse.ArgumentTypeError(f"age like 90s, 15m, 2h or 3d expected, got {text!r}")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return timedelta(**{unit: int(m.group(1))})


# ----------------------------------------------------------------------------------------------------- the two queues
class TopologyMissing(RuntimeError):
    pass


class AmqpDeadLetters:
    """A service's dead-letter queue on RabbitMQ, browsed with basic.get and held unacked until ``close``."""

    def __init__(self, url: str, topology: Topology, service: str):
        self.topology, self.service = topology, service
        self.sq = topology.for_service(service)
        self.conn = connect(url)
        self.conn.connect()
        self.channel = self.conn.channel()
        self._publish_channel = None
        self._returned: list[str] = []

    def depth(self) -> int:
        """Messages ready in the queue (the ones this command holds are not counted)."""
        channel = self.conn.connection.channel()  # a failed passive declare closes its channel: not ours
        try:
            _name, count, _consumers = channel.queue_declare(self.sq.dead_letter_queue, passive=True)
        except amqp.exceptions.NotFound:
            raise TopologyMissing(f"queue {self.sq.dead_letter_queue!r} does not exist: has the "
                                  f"{self.service} worker ever started on this broker?") from None
        if channel.is_open:
            channel.close()
        return count

    def browse(self) -> Iterator[DeadLetter]:
        for _ in range(self.depth()):
            message = self.channel.basic_get(self.sq.dead_letter_queue, no_ack=False)
            if message is None:
                return
            props = dict(message.properties)
            headers = dict(props.pop("application_headers", None) or {})
            yield DeadLetter(self.service, str(props.get("message_id") or ""), message.delivery_info["routing_key"],
                             bytes(message.body if isinstance(message.body, bytes) else str(message.body).encode()),
                             props, headers, handle=message.delivery_info["delivery_tag"])

    def replay(self, letter: DeadLetter) -> None:
        """Publish to ``<service>.requeue`` with a confirm, then ack the letter. Raises on a refusal."""
        if self._publish_channel is None:
            ch = self.conn.connection.channel()
            ch.events["basic_return"].add(lambda exc, exchange, key, message: self._returned.append(key))
            self._publish_channel = ch
        props = {k: v for k, v in letter.properties.items() if k in _AMQP_PROPERTIES}
        props["delivery_mode"] = 2
        self._returned.clear()
        # basic_publish_confirm: selects confirms on first use and waits for this message's ack (or nack: raises).
        self._publish_channel.basic_publish_confirm(
            amqp.Message(letter.body, application_headers=letter.replay_headers(), **props),
            exchange=self.requeue_exchange(), routing_key=letter.event, mandatory=True, confirm_timeout=30)
        if self._returned:
            raise RuntimeError(f"unroutable: nothing bound to {self.requeue_exchange()!r} takes {letter.event!r}")
        self.channel.basic_ack(letter.handle)

    def requeue_exchange(self) -> str:
        return getattr(self.sq, "requeue_exchange", "") or f"{self.sq.queue.rsplit('.', 1)[0]}.requeue"

    def purge(self, letter: DeadLetter) -> None:
        self.channel.basic_ack(letter.handle)

    def close(self) -> None:
        """Give back every letter still held: the broker requeues a closed channel's unacked messages (it does the
        same when this process dies)."""
        self.conn.release()


_AMQP_PROPERTIES = ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
                    "message_id", "timestamp", "type", "user_id", "app_id")


class FileBusDeadLetters:
    """The embedded file bus: each dead letter is one ``<n>_<uuid>.<queue>.msg`` JSON file (kombu's format)."""

    def __init__(self, topology: Topology, service: str, url: str | None = None):
        self.topology, self.service = topology, service
        self.sq = topology.for_service(service)
        self.data = config.var_dir() / "bus" / "data"
        self._publisher = None

    def depth(self) -> int:
        return len(self._files())

    def _files(self) -> list[Path]:
        return sorted(self.data.glob(f"*.{self.sq.dead_letter_queue}.msg")) if self.data.exists() else []

    def browse(self) -> Iterator[DeadLetter]:
        for path in self._files():
            try:
                raw = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # taken meanwhile, or half written
            props = raw.get("properties") or {}
            body = raw.get("body") or ""
            body = base64.b64decode(body) if props.get("body_encoding") == "base64" else str(body).encode()
            headers = raw.get("headers") or {}
            props = {**props, "content_type": raw.get("content-type"), "content_encoding": raw.get("content-encoding")}
            routing_key = (props.get("delivery_info") or {}).get("routing_key", "")
            yield DeadLetter(self.service, str(props.get("message_id") or ""), routing_key, body, props, headers,
                             handle=path)

    def replay(self, letter: DeadLetter) -> None:
        from kombu import Producer

        if self._publisher is None:
            self._conn = connect(None)
            # kombu learns an exchange's type only from a declaration in this process (the control folder keeps
            # just the bindings): undeclared, the topic exchange <service>.requeue routes like a direct one and
            # nothing takes the letter. Every process declares the whole topology (bus.declare_topology).
            declare_topology(self._conn, self.topology)
            self._publisher = Producer(self._conn.channel())
        # The file bus drops a message nothing is bound for, without a word: check first, keep the letter if so.
        if not virtual_route(self._publisher.channel, self.requeue_exchange(), letter.event):
            raise RuntimeError(f"unroutable: nothing bound to {self.requeue_exchange()!r} takes {letter.event!r}")
        self._publisher.publish(
            letter.body, exchange=self.requeue_exchange(), routing_key=letter.event,
            content_type=letter.properties.get("content_type") or "application/json",
            content_encoding=letter.properties.get("content_encoding") or "utf-8", delivery_mode=2,
            message_id=letter.message_id, type=letter.properties.get("type") or letter.event,
            headers=letter.replay_headers(), serializer=None, retry=False)
        Path(letter.handle).unlink(missing_ok=True)

    def requeue_exchange(self) -> str:
        return getattr(self.sq, "requeue_exchange", "") or f"{self.sq.queue.rsplit('.', 1)[0]}.requeue"

    def purge(self, letter: DeadLetter) -> None:
        Path(letter.handle).unlink(missing_ok=True)

    def close(self) -> None:
        if self._publisher is not None:
            self._conn.release()


def open_queue(topology: Topology, service: str, url: str | None):
    return AmqpDeadLetters(url, topology, service) if url else FileBusDeadLetters(topology, service)


# ----------------------------------------------------------------------------------------------- bounded, never lossy
#: How many letters a dead-letter queue holds at most. Far above anything an operator should let pile up (the
#: alert fires at the first one); the bound only keeps a flood of poison from filling the broker's disk.
DEAD_LETTER_MAX = 100_000


def bounding_policies(vhost: str = "/", namespace: str = "", max_length: int = DEAD_LETTER_MAX) -> list[dict]:
    """RabbitMQ policies (``definitions.json``) that bound the dead-letter queues without silent loss.

    - ``<service>.dead``: ``max-length`` with ``overflow: reject-publish``. A full queue *refuses* a new letter (the
      publisher gets a nack) instead of dropping its oldest one (the default, ``drop-head``, would lose letters
      without a trace). A quorum queue refuses once it is *over* the bound, so it may hold one letter more.
    - ``<service>.events``: ``dead-letter-strategy: at-least-once`` (quorum queues; needs ``overflow:
      reject-publish``, which without a ``max-length`` never refuses anything). A letter the broker dead-letters
      itself (the delivery limit) stays in the work queue until the dead-letter queue accepts it; the default,
      at-most-once, would drop it when the dead-letter queue is full.

    So when a dead-letter queue is full nothing is lost: the consumer's own dead-lettering is nacked and the message
    stays unacknowledged in its work queue, and the broker's holds it too; the queue stops moving for those
    messages, ``portal_dead_letter_queue_messages`` has long been alerting, and the operator replays or purges.
    Policies, not queue arguments: they can be changed on a running broker without re-creating any queue."""
    prefix = re.escape(f"{namespace}.") if namespace else ""
    return [
        {"vhost": vhost, "name": f"{namespace or 'portal'}-dead-letter-queues-bounded",
         "pattern": f"^{prefix}[a-z]+\\.dead$", "apply-to": "queues", "priority": 10,
         "definition": {"max-length": max_length, "overflow": "reject-publish"}},
        {"vhost": vhost, "name": f"{namespace or 'portal'}-dead-lettering-at-least-once",
         "pattern": f"^{prefix}[a-z]+\\.events$", "apply-to": "queues", "priority": 10,
         "definition": {"dead-letter-strategy": "at-least-once", "overflow": "reject-publish"}},
    ]


# ------------------------------------------------------------------------------------------------------ the DLQ gauge
class DeadLetterGauge:
    """A worker thread: every ``PORTAL_DLQ_GAUGE_SECONDS`` (30) it reads the depth of its service's dead-letter queue
    into ``portal_dead_letter_queue_messages{service}`` — the number an operator is paged on (see README, Operations).
    A failed read leaves the last value and is logged; the next read reconnects."""

    def __init__(self, service: str, topology: Topology, url: str | None, interval_s: float | None = None):
        self.service, self.topology, self.url = service, topology, url
        self.interval_s = interval_s if interval_s is not None else config.env_int("PORTAL_DLQ_GAUGE_SECONDS", 30)
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def read_once(self) -> int:
        q = open_queue(self.topology, self.service, self.url)
        try:
            depth = q.depth()
        finally:
            q.close()
        DEAD_LETTER_QUEUE.labels(self.service).set(depth)
        return depth

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.read_once()
            except Exception as exc:  # noqa: BLE001 - the broker is away: the consumer says so on /readyz
                log.warning("dead_letter_gauge_failed", error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval_s)


# ------------------------------------------------------------------------------------------------------------ commands
def _fmt(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _one_line(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_list(args, topology, url, out, now) -> int:
    services = args.services or list(topology.services)
    flt = _filter(args)
    for service in services:
        q = open_queue(topology, service, url)
        try:
            every = list(q.browse())
        finally:
            q.close()
        letters = [letter for letter in every if flt.matches(letter, now)]
        out.write(f"{service}: {len(letters)} dead letter(s)"
                  f"{'' if flt.empty else f' matching (of {len(every)})'}\n")
        if not letters:
            continue
        out.write(f"  {'message_id':<36}  {'event':<20}  {'attempts':>8}  {'first failure':<20}  "
                  f"{'dead at':<20}  reason\n")
        for letter in letters:
            out.write(f"  {_one_line(letter.message_id, 36):<36}  {_one_line(letter.event, 20):<20}  "
                      f"{letter.attempts:>8}  {_fmt(letter.first_failure_at):<20}  {_fmt(letter.dead_at):<20}  "
                      f"{_one_line(letter.reason, 100)}\n")
    return 0


def cmd_show(args, topology, url, out, now) -> int:
    q = open_queue(topology, args.service, url)
    try:
        letter = next((m for m in q.browse() if m.message_id == args.message_id), None)
    finally:
        q.close()
    if letter is None:
        out.write(f"no dead letter with message_id {args.message_id!r} in {args.service}\n")
        return 2
    try:
        body = json.dumps(json.loads(letter.body), ensure_ascii=False, indent=2)
    except (ValueError, RecursionError):
        body = letter.body[:4000].decode("utf-8", "replace")
    lines = [
        f"service:        {letter.service}",
        f"message_id:     {letter.message_id}",
        f"event:          {letter.event}",
        f"reason:         {letter.reason}",
        f"first failure:  {_fmt(letter.first_failure_at)}  {letter.first_failure_reason}",
        f"attempts:       {letter.attempts}",
        f"dead at:        {_fmt(letter.dead_at)}",
        "headers:",
        *[f"  {k}: {v}" for k, v in sorted(letter.headers.items()) if k != "x-death"],
        "properties:",
        *[f"  {k}: {v}" for k, v in sorted(letter.properties.items()) if k in _AMQP_PROPERTIES and v is not None],
        "body:",
        body,
    ]
    out.write("\n".join(lines) + "\n")
    return 0


def _settle_matching(args, topology, url, out, now, action: str, confirm: Callable[[int], bool] | None) -> int:
    flt = _filter(args)
    if flt.empty:
        out.write(f"say which dead letters to {action}: message ids, --event, --reason, --older-than or --all\n")
        return 2
    q = open_queue(topology, args.service, url)
    done, failed = 0, 0
    try:
        chosen = [letter for letter in q.browse() if flt.matches(letter, now)]
        if flt.message_ids and not chosen:
            out.write(f"no dead letter with those message ids in {args.service}\n")
            return 2
        if confirm is not None and chosen and not confirm(len(chosen)):
            out.write("nothing purged\n")
            return 0
        for letter in chosen:
            try:
                (q.replay if action == "replay" else q.purge)(letter)
                done += 1
            except (amqp.exceptions.AMQPError, amqp.exceptions.MessageNacked, RuntimeError, OSError,
                    socket.timeout) as exc:
                failed += 1
                out.write(f"  {letter.message_id}: not replayed ({type(exc).__name__}: {exc}); it stays\n")
                if not _channel_alive(q):
                    break
    finally:
        q.close()
    verb = "replayed to " + q.requeue_exchange() if action == "replay" else "purged"
    out.write(f"{args.service}: {done} dead letter(s) {verb}" + (f", {failed} failed" if failed else "") + "\n")
    return 3 if failed else 0


def _channel_alive(q) -> bool:
    ch = getattr(q, "_publish_channel", None)
    return ch is None or ch.is_open


def cmd_replay(args, topology, url, out, now) -> int:
    return _settle_matching(args, topology, url, out, now, "replay", None)


def cmd_purge(args, topology, url, out, now) -> int:
    def confirm(count: int) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            out.write(f"{count} dead letter(s) would be purged; add --yes to do it without a question\n")
            return False
        answer = input(f"Purge {count} dead letter(s) of {args.service} for good? Type 'yes': ")
        return answer.strip().lower() == "yes"
    return _settle_matching(args, topology, url, out, now, "purge", confirm)


def _filter(args) -> Filter:
    return Filter(message_ids=frozenset(getattr(args, "message_ids", None) or ()), event=args.event,
                  reason=args.reason, older_than=args.older_than, everything=getattr(args, "all", False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal-deadletters", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def filters(p):
        p.add_argument("--event", help="only this event name (e.g. document.uploaded)")
        p.add_argument("--reason", help="only letters whose reason contains this text (case-insensitive)")
        p.add_argument("--older-than", type=parse_age, help="only letters dead for longer than this (90s, 15m, 2h, 3d)")

    p = sub.add_parser("list", help="dead letters per service: reason, event, first failure, attempts, dead at")
    p.add_argument("services", nargs="*", metavar="SERVICE")
    filters(p)
    p = sub.add_parser("show", help="one dead letter with its headers and body")
    p.add_argument("service")
    p.add_argument("message_id")
    for name, text in (("replay", "publish dead letters back to the service's queue (same message id)"),
                       ("purge", "delete dead letters for good (asks first; --yes for scripts)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("service")
        p.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID")
        p.add_argument("--all", action="store_true", help="every dead letter of the service")
        filters(p)
        if name == "purge":
            p.add_argument("--yes", action="store_true", help="do not ask")
    return parser


COMMANDS = {"list": cmd_list, "show": cmd_show, "replay": cmd_replay, "purge": cmd_purge}


def main(argv: list[str] | None = None, out=None, now: datetime | None = None, topology: Topology | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    topology = topology or load_topology()
    for service in [*(getattr(args, "services", None) or ()), *([args.service] if hasattr(args, "service") else [])]:
        if service not in topology.services:
            out.write(f"unknown service {service!r}; one of: {', '.join(topology.services)}\n")
            return 2
    url = config.amqp_url()
    try:
        return COMMANDS[args.command](args, topology, url, out, now or datetime.now(timezone.utc))
    except TopologyMissing as exc:
        out.write(f"{exc}\n")
        return 1
    except (OSError, amqp.exceptions.AMQPError) as exc:
        out.write(f"broker unreachable: {type(exc).__name__}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
