#!/usr/bin/env python3
"""Publish an external portal event (policy.upserted, document.uploaded) to RabbitMQ.

A stand-alone tool for internal systems: it needs only ``pika`` and ``jsonschema`` (``boto3`` too for ``--upload``)
and the ``contracts/`` folder it lives in (``topology.json`` and ``events/*.json``): ``pip install pika jsonschema``.
Every message is validated against ``events/<event>.v1.json`` with ``jsonschema`` before anything is sent. Format
checks (date, date-time, email, uuid) are this file's own, so a message is valid or invalid the same way on every
machine (plain jsonschema checks date-time only with an optional package installed).

Examples::

    python contracts/publish.py policy.upserted policy.json
    python contracts/publish.py policy.upserted - --dry-run < policy.json
    python contracts/publish.py document.uploaded meta.json --upload notice.pdf \\
        --s3-endpoint-url http://127.0.0.1:9000

``policy.json`` holds one event object or a JSON array of them, for example::

    {"policy_number": "KGFB-2024-000123", "product": "kgfb", "status": "active", "payment_method": "cheque",
     "premium": {"amount": 48600, "frequency": "quarterly"}, "start_date": "2024-03-01",
     "policyholder": {"customer_id": "C-0000421", "name": "Minta Anna", "birth_name": "Példa Anna",
                      "birth_date": "1985-07-14", "birth_place": "Debrecen", "mother_name": "Teszt Mária"},
     "updated_at": "2024-05-02T08:15:00+02:00"}

The tool declares nothing on the broker: the services own the topology. It only checks passively that the
``portal`` exchange exists, publishes with publisher confirms and ``mandatory=True`` (so a message no queue is bound
for is an error rather than a silent loss) and bounds every wait.

Exit codes: 0 published (or valid, with --dry-run); 1 broker/S3 unreachable, topology missing or a dependency not
installed; 2 bad usage or invalid message (nothing published); 3 the broker did not take a message (unroutable or
rejected); the lines printed before it name the messages that were published.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import mimetypes
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

CONTRACTS_DIR = Path(__file__).resolve().parent
EXTERNAL_EVENTS = ("policy.upserted", "document.uploaded")
SCHEMA_VERSION = 1
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_EXCHANGE = "portal"
DEFAULT_BUCKET = "portal-inbox"
# Bound every wait (ENGINEERING.md, "Messaging pitfalls"); a URL query parameter of the same name wins.
CONNECTION_DEFAULTS = {"blocked_connection_timeout": 30.0, "heartbeat": 30, "socket_timeout": 10.0}

EXIT_OK, EXIT_UNAVAILABLE, EXIT_INVALID, EXIT_NOT_DELIVERED = 0, 1, 2, 3


class PublishError(Exception):
    """An expected failure: printed as one clear message, never as a stack trace."""

    exit_code = EXIT_UNAVAILABLE


class InvalidInput(PublishError):
    """Bad usage or a message that does not match its schema; nothing was published."""

    exit_code = EXIT_INVALID


class NotDelivered(PublishError):
    """The broker did not take a message: no queue is bound for it (unroutable), or it was nacked."""

    exit_code = EXIT_NOT_DELIVERED


class Issue(NamedTuple):
    """One validation error, e.g. Issue("$.premium.amount", "minimum", "-1 is less than the minimum of 0")."""

    path: str
    keyword: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# ---------------------------------------------------------------------------------------------------------------------
# Formats: ours, registered with jsonschema's format checker.

_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII)
_DATE_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$", re.ASCII
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", re.ASCII)


def is_date(value: str) -> bool:
    """RFC 3339 full-date that exists in the calendar: is_date("2024-02-29") -> True, "2023-02-29" -> False."""
    match = _DATE_RE.fullmatch(value)  # fullmatch: "$" alone would accept a trailing newline
    if not match:
        return False
    try:
        dt.date(*map(int, match.groups()))
    except ValueError:  # 2023-02-29, 2024-13-01
        return False
    return True


def is_date_time(value: str) -> bool:
    """RFC 3339 date-time with an offset: "2024-05-02T08:15:00+02:00" -> True, "2024-05-02 08:15" -> False."""
    match = _DATE_TIME_RE.fullmatch(value)
    if not match:
        return False
    year, month, day, hour, minute, second, off_hour, off_minute = match.groups()
    try:
        dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return False
    return off_hour is None or (int(off_hour) <= 23 and int(off_minute) <= 59)


def is_email(value: str) -> bool:
    """Deliberately loose (delivery is the real test): one '@', something on both sides, no spaces."""
    return bool(_EMAIL_RE.fullmatch(value))


def is_uuid(value: str) -> bool:
    """Canonical 8-4-4-4-12 hex form: "3f6c2a9e-8b1d-4c7a-9e52-1d0b7a4f6c21" -> True."""
    return bool(_UUID_RE.fullmatch(value))


FORMATS: dict[str, Callable[[str], bool]] = {
    "date": is_date,
    "date-time": is_date_time,
    "email": is_email,
    "uuid": is_uuid,
}

# ---------------------------------------------------------------------------------------------------------------------
# Validation.


def validate(instance: Any, schema: dict) -> list[Issue]:
    """Every way ``instance`` breaks ``schema``, sorted by path; [] when valid. Needs ``jsonschema`` (>= 4.0).

    >>> validate({"premium": {"amount": -1}}, {"properties": {"premium": {"properties": {"amount": {"minimum": 0}}}}})
    [Issue(path='$.premium.amount', keyword='minimum', message='-1 is less than the minimum of 0')]
    """
    try:
        from jsonschema import Draft202012Validator, FormatChecker
    except ImportError:
        raise PublishError("validating needs jsonschema: pip install jsonschema") from None
    checker = FormatChecker()
    for name, check in FORMATS.items():  # ours override jsonschema's, some of which need optional packages
        checker.checks(name)(lambda value, check=check: not isinstance(value, str) or check(value))
    issues = [Issue(error.json_path, str(error.validator), error.message)
              for error in Draft202012Validator(schema, format_checker=checker).iter_errors(instance)]
    return sorted(issues, key=lambda issue: (issue.path, issue.keyword, issue.message))


# ---------------------------------------------------------------------------------------------------------------------
# Input.


def load_schema(event: str, contracts_dir: Path = CONTRACTS_DIR) -> dict:
    """The JSON Schema of ``event`` v1, e.g. contracts/events/policy.upserted.v1.json."""
    path = contracts_dir / "events" / f"{event}.v{SCHEMA_VERSION}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"schema not found: {path} (publish.py must stay next to contracts/events/)") from None


def load_exchange(namespace: str = "", contracts_dir: Path = CONTRACTS_DIR) -> str:
    """The exchange name from contracts/topology.json ("portal"), prefixed with the bus namespace if any.

    Example: load_exchange("staging2") -> "staging2.portal", as the services name it with PORTAL_BUS_NAMESPACE.
    """
    try:
        exchange = json.loads((contracts_dir / "topology.json").read_text(encoding="utf-8"))["exchange"]
    except FileNotFoundError:
        exchange = DEFAULT_EXCHANGE
    return f"{namespace}.{exchange}" if namespace else exchange


def load_messages(source: str) -> list[dict]:
    """Read one event object or a JSON array of them from a file, or from stdin when ``source`` is "-"."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not UTF-8 text") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN or Infinity, which Python's json accepts but JSON does not
        raise InvalidInput(f"{name} is not valid JSON: {exc}") from None
    messages = data if isinstance(data, list) else [data]
    if not messages:
        raise InvalidInput(f"{name} holds an empty array: nothing to publish")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            where = f"{name}[{index}]" if isinstance(data, list) else name
            raise InvalidInput(f"{where}: an event must be a JSON object, got {type(message).__name__}")
    return messages


def _reject_constant(constant: str):
    raise ValueError(f"{constant} is not a JSON value")


def check_messages(event: str, messages: list[dict], label: str, schema: dict) -> None:
    """Raise InvalidInput listing every error of every message, each with its JSON path."""
    lines = []
    for index, message in enumerate(messages):
        where = label if len(messages) == 1 else f"{label}[{index}]"
        lines += [f"{where} {issue}" for issue in validate(message, schema)]
    if lines:
        header = f"invalid {event} (checked against events/{event}.v{SCHEMA_VERSION}.json), nothing published:"
        raise InvalidInput("\n".join([header, *lines]))


# ---------------------------------------------------------------------------------------------------------------------
# document.uploaded --upload


def now_utc() -> str:
    """Current UTC time as RFC 3339, e.g. "2024-06-20T07:30:12+00:00"."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")  # noqa: UP017 - runs on Python < 3.11 too


def prepare_document(meta: dict, file: Path, bucket: str | None) -> dict:
    """Fill the fields the uploaded file determines. bucket: ``bucket`` (--bucket), else the meta's, else
    $PORTAL_S3_INBOX_BUCKET, else portal-inbox; size and sha256 always from the file; document_id, key, content_type
    and uploaded_at only when the meta lacks them.

    Example: meta {"policy_number": "KGFB-2024-000123", "customer_id": "C-0000421", "doc_type": "premium_notice",
    "title": "Díjértesítő"} and notice.pdf give the meta plus {"document_id": "<new uuid4>", "bucket": "portal-inbox",
    "key": "inbox/<document_id>.pdf", "content_type": "application/pdf", "uploaded_at": "<now, UTC>",
    "size": 48213, "sha256": "3a0104d0..."}.
    """
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from None
    filled = dict(meta)
    filled.setdefault("document_id", str(uuid.uuid4()))
    filled["bucket"] = bucket or filled.get("bucket") or os.environ.get("PORTAL_S3_INBOX_BUCKET") or DEFAULT_BUCKET
    filled.setdefault("key", f"inbox/{filled['document_id']}.pdf")
    filled.setdefault("content_type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
    filled.setdefault("uploaded_at", now_utc())
    filled["size"] = len(data)
    filled["sha256"] = hashlib.sha256(data).hexdigest()
    if filled["content_type"] == "application/pdf" and data and not data.startswith(b"%PDF-"):
        raise InvalidInput(f"{file} does not look like a PDF (no %PDF- header) but content_type is application/pdf")
    return filled


def s3_settings() -> dict:
    """boto3 client arguments from the portal's own variables when set, else boto3's usual chain (AWS_*, profiles)."""
    settings = {}
    if os.environ.get("PORTAL_S3_ACCESS_KEY_ID"):
        settings["aws_access_key_id"] = os.environ["PORTAL_S3_ACCESS_KEY_ID"]
        settings["aws_secret_access_key"] = os.environ.get("PORTAL_S3_SECRET_ACCESS_KEY", "")
    if os.environ.get("PORTAL_S3_REGION"):
        settings["region_name"] = os.environ["PORTAL_S3_REGION"]
    return settings


def upload(file: Path, document: dict, endpoint_url: str | None) -> None:
    """Put ``file`` into S3 at document["bucket"]/document["key"] (credentials: see s3_settings)."""
    try:
        import boto3
        from boto3.exceptions import S3UploadFailedError
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise PublishError("--upload needs boto3: pip install boto3") from None
    config = Config(connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path"} if endpoint_url else None)  # S3-compatible stores want path style
    target = f"s3://{document['bucket']}/{document['key']}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint_url, config=config, **s3_settings())
        client.upload_file(str(file), document["bucket"], document["key"],
                           ExtraArgs={"ContentType": document["content_type"]})
    except (BotoCoreError, ClientError, S3UploadFailedError, OSError) as exc:
        raise PublishError(f"upload to {target} failed (endpoint {endpoint_url or 'AWS'}): {exc}") from None
    print(f"uploaded {target} size={document['size']} sha256={document['sha256']}", flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Publishing.


def redact(amqp_url: str) -> str:
    """The URL without its password, for messages: amqp://guest:***@host:5672/%2F."""
    parts = urlsplit(amqp_url)
    if parts.password is None:
        return amqp_url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connection_parameters(amqp_url: str):
    """pika parameters from the URL, with bounded timeouts unless the URL's query sets them.

    Accepts kombu's spelling of the default vhost too: amqp://host:5672// (pika would read vhost "" from it).
    """
    import pika

    parts = urlsplit(amqp_url)
    if parts.path == "//":
        amqp_url = urlunsplit(parts._replace(path="/%2F"))
    params = pika.URLParameters(amqp_url)
    given = parse_qs(urlsplit(amqp_url).query)
    for name, value in CONNECTION_DEFAULTS.items():
        if name not in given:
            setattr(params, name, value)
    return params


def message_properties(event: str, message_id: str, correlation_id: str):
    """AMQP properties and headers as docs/architecture.md ("The bus") defines them."""
    import pika

    return pika.BasicProperties(
        message_id=message_id,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        type=event,
        headers={"event": event, "version": SCHEMA_VERSION, "occurred_at": now_utc(), "correlation_id": correlation_id},
    )


def encode(message: dict) -> bytes:
    """The body is exactly the event object, as compact UTF-8 JSON."""
    return json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def publish(
    amqp_url: str,
    event: str,
    messages: Iterable[dict],
    *,
    exchange: str = DEFAULT_EXCHANGE,
    routing_key: str | None = None,
    message_id: str | None = None,
    correlation_id: str | None = None,
    on_published: Callable[[str], None] = lambda message_id: None,
    before_first: Callable[[], None] = lambda: None,
) -> list[str]:
    """Publish ``messages`` (already validated) one by one with confirms; return their message ids.

    ``before_first`` runs once the broker is reachable and the exchange exists, just before the first message: the
    S3 upload goes there, so an unreachable broker does not leave an orphan object in the inbox.

    Raises PublishError when the broker is unreachable or the exchange is missing, NotDelivered when a message is
    unroutable or nacked (``on_published`` has then been called for each message before it).

    Example: publish("amqp://guest:guest@127.0.0.1:5672/%2F", "policy.upserted", [policy], exchange="portal")
    returns ["6f1c0e4e-..."] once the broker has confirmed the message into at least one queue.
    """
    try:
        import pika
        from pika import exceptions as errors
    except ImportError:
        raise PublishError("publishing needs pika: pip install pika") from None
    messages = list(messages)
    if message_id and len(messages) > 1:
        raise InvalidInput("--message-id names one message, but the input holds several")
    correlation_id = correlation_id or str(uuid.uuid4())
    routing_key = routing_key or event
    published: list[str] = []
    try:
        connection = pika.BlockingConnection(connection_parameters(amqp_url))
    except (errors.AMQPError, OSError) as exc:
        raise PublishError(f"cannot connect to RabbitMQ at {redact(amqp_url)}: {describe(exc)}") from None
    try:
        channel = connection.channel()
        check_exchange(channel, exchange, amqp_url)
        channel.confirm_delivery()
        before_first()
        for message in messages:
            this_id = message_id or str(uuid.uuid4())
            properties = message_properties(event, this_id, correlation_id)
            try:
                channel.basic_publish(exchange, routing_key, encode(message), properties, mandatory=True)
            except errors.UnroutableError:
                raise NotDelivered(
                    f"{event} message_id={this_id} is unroutable: no queue is bound to exchange {exchange!r} "
                    f"for routing key {routing_key!r}; start the consuming services (or load "
                    f"deploy/rabbitmq/definitions.json) and publish again"
                ) from None
            except errors.NackError:
                raise NotDelivered(f"{event} message_id={this_id} was rejected (nack) by the broker") from None
            published.append(this_id)
            on_published(this_id)
    except errors.ConnectionBlockedTimeout:
        raise PublishError(
            f"RabbitMQ blocked the connection (resource alarm) for too long; {progress(published, messages)}"
        ) from None
    except (errors.AMQPError, OSError) as exc:
        raise PublishError(
            f"lost RabbitMQ while publishing ({describe(exc)}); {progress(published, messages)}"
        ) from None
    finally:
        close_quietly(connection)
    return published


def check_exchange(channel, exchange: str, amqp_url: str) -> None:
    """Passive declare: fail unless the services (or definitions.json) have declared the exchange."""
    from pika.exceptions import ChannelClosedByBroker

    try:
        channel.exchange_declare(exchange, passive=True)
    except ChannelClosedByBroker as exc:
        if exc.reply_code != 404:
            raise
        raise PublishError(
            f"exchange {exchange!r} does not exist on {redact(amqp_url)}: the portal's topology isn't declared. "
            f"Start a portal service (each declares it at start) or load deploy/rabbitmq/definitions.json"
        ) from None


def progress(published: list[str], messages: list[dict]) -> str:
    unsure = "the one in flight may or may not have arrived" if len(published) < len(messages) else ""
    return ", ".join(filter(None, [f"{len(published)} of {len(messages)} messages confirmed", unsure]))


def describe(exc: Exception) -> str:
    """pika's connection errors often have an empty str(); their first argument says what went wrong."""
    text = str(exc).strip() or ", ".join(str(arg) or repr(arg) for arg in exc.args)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def close_quietly(connection) -> None:
    with contextlib.suppress(Exception):  # best effort: the outcome is already decided
        if connection.is_open:
            connection.close()


# ---------------------------------------------------------------------------------------------------------------------
# Command line.

EPILOG = """\
examples:
  %(prog)s policy.upserted policy.json
  %(prog)s policy.upserted policies.json --amqp-url amqp://user:pass@mq.internal:5672/%%2F
  %(prog)s policy.upserted - --dry-run < policy.json
  %(prog)s document.uploaded meta.json --upload notice.pdf --s3-endpoint-url http://127.0.0.1:9000

The input file holds one event object or a JSON array of them. Schemas: contracts/events/<event>.v1.json,
examples: contracts/events/examples/. With --upload, the tool fills document_id (uuid4) and uploaded_at (now) when
missing, key (inbox/<document_id>.pdf) and content_type (from the file name) when missing, and always bucket,
size and sha256. In an AMQP URL, %%2F is the default vhost "/" (kombu's "//" is accepted too).

exit codes: 0 published (or valid with --dry-run); 1 broker/S3 unreachable, topology missing or a package missing;
2 bad usage or invalid message, nothing published; 3 a message was unroutable or rejected by the broker.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="publish.py",
        description="Validate external portal events against contracts/events and publish them to RabbitMQ.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("event", choices=EXTERNAL_EVENTS, help="event name, also the routing key")
    parser.add_argument("message", help="JSON file with one event or an array of events; - reads stdin")
    parser.add_argument("--amqp-url", default=os.environ.get("PORTAL_AMQP_URL", DEFAULT_AMQP_URL),
                        help="broker URL (default: $PORTAL_AMQP_URL, else " + DEFAULT_AMQP_URL.replace("%", "%%") + ")")
    parser.add_argument("--namespace", default=os.environ.get("PORTAL_BUS_NAMESPACE", ""),
                        help="bus namespace: publish to <namespace>.portal, as services started with the same "
                        "PORTAL_BUS_NAMESPACE declare it (default: $PORTAL_BUS_NAMESPACE, else none)")
    parser.add_argument("--message-id", help="AMQP message_id (one message only; default: a new uuid4 per message). "
                        "Re-publishing with the same id is safe: consumers are idempotent by it")
    parser.add_argument("--correlation-id", help="correlation_id header (default: one new uuid4 for the run)")
    parser.add_argument("--dry-run", action="store_true", help="validate only; connect, upload and publish nothing")
    parser.add_argument("--upload", metavar="FILE", type=Path,
                        help="document.uploaded only: upload FILE to S3 first and fill the file's fields")
    parser.add_argument("--s3-endpoint-url", default=os.environ.get("PORTAL_S3_ENDPOINT_URL"),
                        help="S3 endpoint for --upload (default: $PORTAL_S3_ENDPOINT_URL, else AWS)")
    parser.add_argument("--bucket",
                        help="inbox bucket for --upload (default: the meta's bucket, else $PORTAL_S3_INBOX_BUCKET, "
                        f"else {DEFAULT_BUCKET})")
    args = parser.parse_args(argv)
    if args.upload and args.event != "document.uploaded":
        parser.error("--upload only goes with document.uploaded")
    if args.bucket and not args.upload:
        parser.error("--bucket only goes with --upload")
    return args


def run(args: argparse.Namespace) -> None:
    schema = load_schema(args.event)
    messages = load_messages(args.message)
    label = "stdin" if args.message == "-" else args.message
    if args.message_id and len(messages) > 1:
        raise InvalidInput("--message-id names one message, but the input holds several")
    if args.upload:
        if len(messages) != 1:
            raise InvalidInput("--upload takes exactly one document.uploaded object, not an array")
        messages = [prepare_document(messages[0], args.upload, args.bucket)]
    check_messages(args.event, messages, label, schema)
    if args.upload and not args.dry_run and importlib.util.find_spec("boto3") is None:
        raise PublishError("--upload needs boto3: pip install boto3")  # before anything is sent
    if args.dry_run:
        print(f"valid {args.event}: {len(messages)} message(s), dry run, nothing published")
        return

    def upload_first() -> None:  # after the broker check, so a missing broker leaves no orphan object
        if args.upload:
            upload(args.upload, messages[0], args.s3_endpoint_url)

    publish(
        args.amqp_url, args.event, messages,
        exchange=load_exchange(args.namespace),
        message_id=args.message_id,
        correlation_id=args.correlation_id,
        on_published=lambda message_id: print(f"published {args.event} message_id={message_id}", flush=True),
        before_first=upload_first,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except PublishError as exc:
        print(f"publish.py: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
