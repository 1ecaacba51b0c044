"""The shared gunicorn settings: one JSON line per request, the app's (with its correlation id) — gunicorn's own access
line stays off even though ``logconfig_dict`` is set (which would otherwise turn it on)."""
from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger as GunicornLogger

from portal_common import gunicorn_conf


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[logging.LogRecord] = []

    def emit(self, record):
        self.lines.append(record)


@pytest.fixture(autouse=True)
def _keep_logging_as_it_was():
    """gunicorn's Logger applies ``logconfig_dict`` to the process's logging: undo it for the tests after this one."""
    names = ("", "gunicorn.error", "gunicorn.access")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.propagate = handlers, propagate
        logger.setLevel(level)


def _access_lines(logger_class) -> list[logging.LogRecord]:
    cfg = Config()
    cfg.set("logconfig_dict", gunicorn_conf.logconfig_dict)
    logger = logger_class(cfg)  # applies logconfig_dict
    seen = _Lines()
    logging.getLogger("gunicorn.access").addHandler(seen)
    response = SimpleNamespace(status="200 OK", headers=[], sent=10, response_length=10)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/home", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    request = SimpleNamespace(headers=[], method="GET", uri="/home", path="/home", query="", version=(1, 1))
    try:
        logger.access(response, request, environ, timedelta(milliseconds=3))
    finally:
        logging.getLogger("gunicorn.access").removeHandler(seen)
    return seen.lines


def test_gunicorn_writes_no_access_line_per_request():
    assert gunicorn_conf.logger_class is gunicorn_conf.NoAccessLogLogger
    assert _access_lines(GunicornLogger), "gunicorn's own logger would write one (what this setting is for)"
    assert _access_lines(gunicorn_conf.NoAccessLogLogger) == []
