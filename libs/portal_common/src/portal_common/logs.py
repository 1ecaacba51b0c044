"""JSON logs with the request/event correlation id on every line.

structlog renders; the standard library's loggers (gunicorn, alembic, kombu) are routed through the same renderer so
an operator gets one format. The correlation id lives in a context variable: bind it once per request or message.
"""
from __future__ import annotations

import logging
import sys
import uuid

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

_configured = False


def configure_logging(service: str, level: str | int = "INFO") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    shared = _shared_processors(service)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = json_formatter(service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _shared_processors(service: str) -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]


def json_formatter(service: str = "gunicorn") -> logging.Formatter:
    """The JSON formatter for standard-library loggers (also used by gunicorn's ``logconfig_dict``)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(service),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def _add_service(service: str):
    def processor(_logger, _method, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def get_logger(name: str | None = None):
    return structlog.get_logger(name)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def bind_correlation_id(correlation_id: str | None) -> str:
    """Bind (or start) the correlation id for everything logged or published from here on."""
    clear_contextvars()
    correlation_id = correlation_id or new_correlation_id()
    bind_contextvars(correlation_id=correlation_id)
    return correlation_id


def current_correlation_id() -> str | None:
    return get_contextvars().get("correlation_id")


def debug_enabled(logger) -> bool:
    """Whether ``logger`` writes debug lines: check before building a sampled debug line on a hot path (structlog
    runs its processors before the standard library's level filter drops the line)."""
    check = getattr(logger, "isEnabledFor", None) or getattr(logger, "is_enabled_for", None)
    return bool(check and check(logging.DEBUG))
