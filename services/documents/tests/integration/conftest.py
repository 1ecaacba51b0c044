"""Real PostgreSQL, RabbitMQ and an embedded S3 server (moto's, in-process) around the real worker process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pika
import pytest
import requests
from botocore.config import Config

from portal_common import testing
from portal_common.bus import connect, declare_topology, delete_topology, load_topology
from portal_common.testing import deadline_for

SERVICE_DIR = Path(__file__).resolve().parents[2]


def pika_url(url: str) -> str:
    """kombu writes the default vhost as ``//``; pika needs it URL-encoded."""
    return url[:-2] + "/%2F" if url.endswith("//") else url


class Env:
    """What the tests drive: the bus (raw pika, like an internal system), S3 (raw boto3) and the service's API."""

    def __init__(self, *, amqp_url, namespace, database_url, s3_endpoint, api, env):
        self.amqp_url, self.namespace, self.database_url = amqp_url, namespace, database_url
        self.s3_endpoint, self.api, self.env = s3_endpoint, api, env
        self.s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="portal",
                               aws_secret_access_key="portal-secret", region_name="us-east-1",
                               config=Config(s3={"addressing_style": "path"}))

    def publish(self, event: str, payload: dict, message_id: str | None = None) -> str:
        message_id = message_id or str(uuid.uuid4())
        conn = pika.BlockingConnection(pika.URLParameters(pika_url(self.amqp_url)))
        try:
            channel = conn.channel()
            channel.confirm_delivery()
            channel.basic_publish(f"{self.namespace}.portal", event, json.dumps(payload).encode(),
                                  pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                       message_id=message_id, type=event, headers={
                                                           "event": event, "version": 1,
                                                           # as the portal's outbox stamps it: customer status
                                                           # events are applied by this time
                                                           "occurred_at": datetime.now(timezone.utc).isoformat()}),
                                  mandatory=True)
        finally:
            conn.close()
        return message_id

    def get_message(self, queue: str, timeout: float = 20.0):
        """Wait for one message on ``queue``: ``(properties, body)``."""
        conn = pika.BlockingConnection(pika.URLParameters(pika_url(self.amqp_url)))
        try:
            channel = conn.channel()
            deadline = time.monotonic() + deadline_for(timeout)
            while time.monotonic() < deadline:
                method, props, body = channel.basic_get(queue, auto_ack=True)
                if method is not None:
                    return props, body
                time.sleep(0.2)
        finally:
            conn.close()
        raise AssertionError(f"no message on {queue} within {timeout}s")


@pytest.fixture(scope="module")
def s3_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    port = testing.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def stack(s3_endpoint):
    amqp_url = testing.require_rabbitmq()
    testing.require_postgres()
    namespace = testing.bus_namespace()
    topology = load_topology(namespace=namespace, retry_delays=(0.2, 0.5))  # short retry tiers, as the worker's
    with testing.temp_postgres_database("documents_it") as database_url:
        testing.migrate(SERVICE_DIR / "alembic.ini", database_url)
        with connect(amqp_url) as conn:
            conn.connect()
            declare_topology(conn, topology)  # so nothing published before the worker is up is dropped
        health_port = testing.free_port()
        env = dict(os.environ, PORTAL_DOCUMENTS_DATABASE_URL=database_url, PORTAL_AMQP_URL=amqp_url,
                   PORTAL_BUS_NAMESPACE=namespace, PORTAL_HEALTH_PORT=str(health_port),
                   PORTAL_S3_ENDPOINT_URL=s3_endpoint, PYTHONUNBUFFERED="1", PORTAL_RETRY_DELAYS="0.2,0.5",
                   PORTAL_DOCUMENTS_RETRY_HORIZON_HOURS=str(3 / 3600))  # a policy that never comes: 3 s
        log_path = Path(f"/tmp/documents-worker-{namespace}.log")
        with open(log_path, "wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "documents.entrypoints.worker"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(f"http://127.0.0.1:{health_port}/readyz", worker, log_path)
            from documents.entrypoints.api import create_app
            from documents.settings import Settings

            app = create_app(database_url, settings=Settings(s3_endpoint_url=s3_endpoint))
            app.testing = True
            yield Env(amqp_url=amqp_url, namespace=namespace, database_url=database_url, s3_endpoint=s3_endpoint,
                      api=app.test_client(), env=env)
            app.extensions["documents"].engine.dispose()
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
            with connect(amqp_url) as conn:
                conn.connect()
                delete_topology(conn, topology)


def _wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + deadline_for(timeout)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"worker not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")
