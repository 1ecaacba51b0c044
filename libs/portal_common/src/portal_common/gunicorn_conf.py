"""gunicorn settings shared by every API: ``from portal_common.gunicorn_conf import *`` in a service's config.

No ``preload_app``: the app (and so every database engine and connection) is created in each worker after the
fork, never shared between processes (benoitc/gunicorn#1953).
"""
import os

from gunicorn.glogging import Logger as _GunicornLogger

bind = f"{os.environ.get('PORTAL_API_HOST', '0.0.0.0')}:{os.environ.get('PORTAL_API_PORT', '8000')}"
workers = int(os.environ.get("PORTAL_API_WORKERS", "2"))
threads = int(os.environ.get("PORTAL_API_THREADS", "4"))
worker_class = "gthread"
preload_app = False
accesslog = None  # the app logs each request as JSON, with its correlation id


class NoAccessLogLogger(_GunicornLogger):
    """gunicorn's logger without its access log. ``accesslog = None`` alone does not turn it off once a
    ``logconfig_dict`` is set: gunicorn then wrote a second JSON line per request (``gunicorn.access``, no
    correlation id) next to the app's own, a few per cent of a busy process's CPU."""

    def access(self, resp, req, environ, request_time):
        return


logger_class = NoAccessLogLogger
# gunicorn 27's control socket defaults to one path per user: five APIs on one machine would fight over it, and the
# image's home is read-only. Operators manage the processes through signals and the orchestrator instead.
control_socket_disable = True
graceful_timeout = 20
timeout = 30
# gunicorn's own messages (boot, worker exits, a failed start-up's traceback) as JSON lines like the app's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal_common.logs.json_formatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def on_starting(server):
    # Several worker processes need a shared directory for Prometheus metrics.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
