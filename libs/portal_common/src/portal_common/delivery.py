"""Reading one delivery: everything that can be wrong with it is found here, as a typed error, per message.

A header is publisher-controlled input and the routing key (checked by the broker, and by its topic permissions)
is the only event name to trust. :func:`identify` never raises — it gives what the consumer needs to log and
dead-letter even an unreadable delivery; :func:`decode` raises :class:`~portal_common.errors.PoisonMessage` or
:class:`~portal_common.errors.SchemaViolation` for anything it cannot accept:

- a routing key with no route in the service's table (unknown event);
- an ``event`` header that names another event than the routing key (a forgery or a bug: dead-lettered, so an
  operator sees it — the header is never used to pick a handler);
- a ``version`` header that is not an integer, or a version the route does not read;
- ``correlation_id``/``x-attempts`` headers of the wrong type, a message id too long (an unreadable
  ``occurred_at`` only counts as absent);
- a content type other than JSON, a body over ``PORTAL_MAX_MESSAGE_BYTES`` (default 1 MiB), not UTF-8, not JSON,
  nested deeper than 32 levels (or deep enough to make the parser recurse out), not a JSON object;
- a schema violation (marshmallow).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from marshmallow import ValidationError

from . import config
from .errors import PoisonMessage, SchemaViolation
from .messagebus import Message, Route

MAX_ID_LENGTH = 200  # processed_messages.message_id


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1024 * 1024
    max_depth: int = 32

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(max_bytes=config.env_int("PORTAL_MAX_MESSAGE_BYTES", cls.max_bytes))


@dataclass(frozen=True)
class Identity:
    """What is known of any delivery, readable or not."""

    message_id: str
    routing_key: str
    body: bytes
    headers: dict
    properties: dict
    content_type: str | None
    content_encoding: str | None


def identify(raw) -> Identity:
    props = raw.properties if isinstance(getattr(raw, "properties", None), dict) else {}
    headers = raw.headers if isinstance(getattr(raw, "headers", None), dict) else {}
    info = raw.delivery_info if isinstance(getattr(raw, "delivery_info", None), dict) else {}
    body = raw.body if isinstance(raw.body, bytes) else str(raw.body).encode("utf-8", "replace")
    routing_key = info.get("routing_key")
    message_id = props.get("message_id")
    if not isinstance(message_id, str) or not message_id or len(message_id) > MAX_ID_LENGTH:
        message_id = "sha256:" + hashlib.sha256(body).hexdigest()
    content_type, encoding = getattr(raw, "content_type", None), getattr(raw, "content_encoding", None)
    return Identity(message_id, routing_key if isinstance(routing_key, str) else "", body, dict(headers),
                    dict(props), content_type if isinstance(content_type, str) else None,
                    encoding if isinstance(encoding, str) else None)


def decode(raw, ident: Identity, events: dict[str, Route], limits: Limits) -> tuple[Message, dict]:
    """The delivery as the handler gets it: its :class:`Message` and the fields its route's schema loaded."""
    event = ident.routing_key
    route = events.get(event)
    if route is None:
        raise PoisonMessage(f"unknown event {event!r}: no route for this routing key", "unknown_event")
    headers = ident.headers
    claimed = headers.get("event")
    if claimed is not None and claimed != event:
        raise PoisonMessage(f"event header {str(claimed)[:100]!r} does not match the routing key {event!r}",
                            "event_mismatch")
    message_id = ident.properties.get("message_id")
    if message_id is not None and (not isinstance(message_id, str) or len(message_id) > MAX_ID_LENGTH):
        raise PoisonMessage(f"message_id must be a string of at most {MAX_ID_LENGTH} characters", "header")
    version = _int_header(headers, "version", default=1)
    if version not in route.versions:
        readable = ", ".join(f"v{v}" for v in route.versions)
        raise PoisonMessage(f"unsupported version {version} of {event!r} (this service reads {readable})", "version")
    correlation_id = headers.get("correlation_id") or ident.message_id
    if not isinstance(correlation_id, str) or len(correlation_id) > MAX_ID_LENGTH:
        raise PoisonMessage("header correlation_id must be a string of at most 200 characters", "header")
    occurred_at = _time_header(headers, "occurred_at")
    attempts = _int_header(headers, "x-attempts", default=0)
    content_type = ident.content_type
    if content_type not in (None, "", "application/json"):
        raise PoisonMessage(f"content type {str(content_type)[:100]!r} is not application/json", "content_type")
    encoding = ident.content_encoding
    if encoding not in (None, "", "utf-8", "utf8"):
        raise PoisonMessage(f"content encoding {str(encoding)[:100]!r} is not utf-8", "content_type")
    body = _json_object(ident.body, limits)
    try:
        fields = route.load(body)
    except ValidationError as exc:
        raise SchemaViolation("schema violation: " + json.dumps(exc.messages, ensure_ascii=False, sort_keys=True,
                                                                default=str)) from None
    info = raw.delivery_info if isinstance(getattr(raw, "delivery_info", None), dict) else {}
    redelivered = bool(info.get("redelivered"))
    message = Message(message_id=ident.message_id, event=event, version=version, correlation_id=correlation_id,
                      occurred_at=occurred_at, headers=headers, redelivered=redelivered, attempts=attempts)
    return message, fields


def _int_header(headers: dict, name: str, *, default: int) -> int:
    value = headers.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise PoisonMessage(f"header {name} must be an integer, not {type(value).__name__} {str(value)[:40]!r}",
                            "header")
    return value


def _time_header(headers: dict, name: str) -> datetime | None:
    """An advisory time (``occurred_at``): unreadable or without a zone counts as absent, the handler uses now."""
    value = headers.get(name)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else None


def _json_object(body: bytes, limits: Limits) -> dict:
    if len(body) > limits.max_bytes:
        raise PoisonMessage(f"message too large: {len(body)} bytes, the limit is {limits.max_bytes}", "too_large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonMessage(f"invalid JSON: not UTF-8 ({exc.reason} at byte {exc.start})", "not_json") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise PoisonMessage(f"invalid JSON: nested deeper than {limits.max_depth} levels", "too_deep") from None
    except ValueError as exc:
        raise PoisonMessage(f"invalid JSON: {exc}", "not_json") from None
    if not isinstance(value, dict):
        raise PoisonMessage(f"invalid message: the body must be a JSON object, not {type(value).__name__}",
                            "not_object")
    if _depth(value) > limits.max_depth:
        raise PoisonMessage(f"invalid JSON: nested deeper than {limits.max_depth} levels", "too_deep")
    return value


def _depth(value) -> int:
    """Nesting depth, without recursion (the value may be as deep as the parser allowed)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest
