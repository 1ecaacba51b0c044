"""gunicorn settings for the gateway (shared defaults: portal_common.gunicorn_conf).

Run: ``gunicorn -c gateway/gunicorn.conf.py 'gateway.app:create_app()'`` (PORTAL_API_PORT=8000). The master process
also serves ``/healthz``, ``/readyz`` and ``/metrics`` on ``PORTAL_HEALTH_PORT`` (9100), never on the public port
(see gateway/src/gateway/ops.py).
"""
import os

from portal_common import config as portal_config  # not `config`: gunicorn reads that name as a setting
from portal_common.gunicorn_conf import *  # noqa: F401,F403

# The gateway's own shape when set (it composes pages: its requests wait on the services, not on a database).
workers = portal_config.env_int("PORTAL_GATEWAY_WORKERS", workers)  # noqa: F405
threads = portal_config.env_int("PORTAL_GATEWAY_THREADS", threads)  # noqa: F405

# /metrics is served by the master, so the workers must write their samples where it can read them. Set before
# prometheus_client is imported anywhere (it picks its storage at import).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(portal_config.var_dir() / "prometheus-gateway")


def when_ready(server):
    from gateway.ops import serve_ops

    host, port = server.LISTENERS[0].getsockname()[:2]
    ops_port = portal_config.env_int("PORTAL_HEALTH_PORT", 9100)
    serve_ops(ops_port, host, port, host=portal_config.env("PORTAL_HEALTH_HOST", "0.0.0.0"))
    server.log.info("operations endpoints (/healthz, /readyz, /metrics) on port %s", ops_port)
    # Whether each worker will run the cache's invalidation feed, said once for the whole gateway (gateway/feed.py).
    from gateway import feed

    server.log.info(feed.summary())


def post_worker_init(worker):
    """Each worker process subscribes its own invalidation feed, after the fork (no connection crosses one)."""
    from gateway import feed

    feed.start()


def worker_exit(server, worker):
    """Close the worker's subscription: the broker deletes its exclusive queue at once."""
    from gateway import feed

    feed.stop()
