"""publish.py document.uploaded --upload against an in-process S3 (moto) and, for the full path, RabbitMQ."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pika
import pytest

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
PUBLISH_PY = CONTRACTS_DIR / "publish.py"
DOCUMENT_EXAMPLE = CONTRACTS_DIR / "events" / "examples" / "document.uploaded.v1.json"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "contract-test", "AWS_SECRET_ACCESS_KEY": "contract-test",
           "AWS_DEFAULT_REGION": "us-east-1"}
PDF = b"%PDF-1.7\n% contract test\n%%EOF\n"


@pytest.fixture
def s3(monkeypatch):
    """(endpoint URL, boto3 client) of a fresh moto S3 server with the portal-inbox bucket."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] comes from requirements.lock")
    import boto3

    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process, not per server: start every test from an empty S3.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="portal-inbox")
    yield endpoint, client
    server.stop()


def meta(tmp_path: Path) -> Path:
    document = json.loads(DOCUMENT_EXAMPLE.read_text(encoding="utf-8"))
    for filled_by_upload in ("document_id", "uploaded_at", "bucket", "key", "content_type", "size", "sha256"):
        del document[filled_by_upload]
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def pdf_file(tmp_path: Path) -> Path:
    path = tmp_path / "notice.pdf"
    path.write_bytes(PDF)
    return path


def run_publish(*args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PORTAL_S3_")}
    env.update(AWS_ENV, PORTAL_BUS_NAMESPACE="", PORTAL_S3_ACCESS_KEY_ID="contract-test",
               PORTAL_S3_SECRET_ACCESS_KEY="contract-test", PORTAL_S3_REGION="us-east-1")
    return subprocess.run([sys.executable, str(PUBLISH_PY), *args], check=False, capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.broker
def test_upload_then_publish(amqp_url, topology, s3, tmp_path):
    endpoint, client = s3
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.exchange_declare(topology["exchange"], exchange_type="topic", durable=True)
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, topology["exchange"], routing_key="document.uploaded")

        result = run_publish("document.uploaded", str(meta(tmp_path)), "--upload", str(pdf_file(tmp_path)),
                             "--s3-endpoint-url", endpoint, "--amqp-url", amqp_url)

        assert result.returncode == 0, result.stderr
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None, "no document.uploaded message arrived"
    finally:
        connection.close()
    event = json.loads(body)
    assert event["bucket"] == "portal-inbox" and event["key"] == f"inbox/{event['document_id']}.pdf"
    assert event["size"] == len(PDF) and event["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert event["content_type"] == "application/pdf"
    stored = client.get_object(Bucket=event["bucket"], Key=event["key"])
    assert stored["Body"].read() == PDF and stored["ContentType"] == "application/pdf"
    assert result.stdout.splitlines() == [
        f"uploaded s3://portal-inbox/{event['key']} size={len(PDF)} sha256={event['sha256']}",
        f"published document.uploaded message_id={properties.message_id}",
    ]


def test_unreachable_broker_uploads_nothing(s3, tmp_path):
    endpoint, client = s3
    result = run_publish("document.uploaded", str(meta(tmp_path)), "--upload", str(pdf_file(tmp_path)),
                         "--s3-endpoint-url", endpoint, "--amqp-url", "amqp://guest:guest@127.0.0.1:1/")
    assert result.returncode == 1
    assert "cannot connect to RabbitMQ" in result.stderr
    assert client.list_objects_v2(Bucket="portal-inbox").get("KeyCount") == 0


@pytest.mark.broker
def test_missing_bucket_is_a_clear_error(amqp_url, topology, s3, tmp_path):
    endpoint, _ = s3
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    connection.channel().exchange_declare(topology["exchange"], exchange_type="topic", durable=True)
    connection.close()
    bucket = f"contract-test-{uuid.uuid4().hex[:8]}"
    result = run_publish("document.uploaded", str(meta(tmp_path)), "--upload", str(pdf_file(tmp_path)),
                         "--bucket", bucket, "--s3-endpoint-url", endpoint, "--amqp-url", amqp_url)
    assert result.returncode == 1
    assert f"upload to s3://{bucket}/inbox/" in result.stderr and "Traceback" not in result.stderr
    assert "published" not in result.stdout
