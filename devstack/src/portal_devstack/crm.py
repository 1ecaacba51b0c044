"""The demo CRM of ``make run``: what the insurer's contact centre would read from ``crm.events``.

In production the insurer's CRM consumes ``crm.events`` (``customer.callback_requested``: call this customer back
within 2 working days; ``customer.contact_changed``). ``make run`` has no CRM, so this consumer plays it: each message
is kept as a JSON file under ``var/crm/`` and then acknowledged; the developer page ``/dev/crm`` lists them. Without
it the queue would only grow. Only the newest :data:`KEEP` files are kept.

``python -m portal_devstack.crm`` — the same bus as the services (RabbitMQ when ``PORTAL_AMQP_URL`` is set, the file
bus under ``var/bus`` otherwise). A crash ends the process; the devstack's supervisor starts it again, and an
unacknowledged message is delivered again: its file is named after its message id, so it is written once.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from kombu import Consumer

from portal_common import bus, config

KEEP = 500
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def folder() -> Path:
    path = config.var_dir() / "crm"
    path.mkdir(parents=True, exist_ok=True)
    return path


def record(directory: Path, routing_key: str, message_id: str | None, body: bytes, now: datetime) -> Path:
    """Write one message as ``<message id>.json``: the event's name (its routing key), when it arrived, and its
    payload (or the raw text, when it is not JSON — the CRM would have to look at it too)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = body.decode("utf-8", "replace")
    ident = _UNSAFE.sub("_", message_id or f"{now.timestamp():.6f}")[:80]
    path = directory / f"{ident}.json"
    # Written aside, then renamed: a reader (the /dev/crm page, a test) never sees half a file, also when a
    # redelivered message replaces its earlier copy.
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps({"event": routing_key, "message_id": message_id, "received_at": now.isoformat(),
                                   "payload": payload}, ensure_ascii=False, indent=2), "utf-8")
    os.replace(partial, path)
    return path


def prune(directory: Path, keep: int = KEEP) -> None:
    files = sorted(directory.glob("*.json"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    for stale in files[keep:]:
        stale.unlink(missing_ok=True)


def run(stop: list[bool]) -> None:
    topology = bus.load_topology()
    url = config.amqp_url()
    queue, _dead = bus.service_queues(topology, "crm", amqp_broker=bool(url))
    directory = folder()

    def on_message(message) -> None:  # the raw message: nothing decoded, a body that is not JSON is kept too
        raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        record(directory, message.delivery_info.get("routing_key", ""), message.properties.get("message_id"), raw,
               datetime.now(timezone.utc))
        message.ack()
        prune(directory)

    with bus.connect(url) as connection:
        channel = connection.channel()
        queue.bind(channel).declare()
        with Consumer(channel, queues=[queue], on_message=on_message, no_ack=False, prefetch_count=10):
            print(f"crm: consuming {queue.name} into {directory}", flush=True)
            while not stop[0]:
                try:
                    connection.drain_events(timeout=1.0)
                except (socket.timeout, TimeoutError):
                    continue


def main() -> None:
    stop = [False]

    def ask_to_stop(*_):
        stop[0] = True

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    while not stop[0]:
        try:
            run(stop)
        except (OSError, ConnectionError) as exc:  # the broker went away: try again, as a real consumer would
            print(f"crm: {exc!r}; reconnecting in 2 s", flush=True)
            time.sleep(2.0)


if __name__ == "__main__":
    main()
