"""contracts/publish.py as internal systems run it: validation, exit codes, messages (no broker needed)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
PUBLISH_PY = CONTRACTS_DIR / "publish.py"
EXAMPLES_DIR = CONTRACTS_DIR / "events" / "examples"
POLICY_EXAMPLE = EXAMPLES_DIR / "policy.upserted.v1.json"
DOCUMENT_EXAMPLE = EXAMPLES_DIR / "document.uploaded.v1.json"
# Runs publish.py as if jsonschema were not installed.
WITHOUT_JSONSCHEMA = (
    "import runpy, sys; sys.modules['jsonschema'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run(*args: str, stdin: str | None = None, without_jsonschema: bool = False) -> subprocess.CompletedProcess:
    prefix = ["-c", WITHOUT_JSONSCHEMA] if without_jsonschema else []
    return subprocess.run(
        [sys.executable, *prefix, str(PUBLISH_PY), *args],
        input=stdin, check=False, capture_output=True, text=True, timeout=60,
    )


def policy() -> dict:
    return json.loads(POLICY_EXAMPLE.read_text(encoding="utf-8"))


def write(tmp_path: Path, data, name: str = "message.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_help_shows_examples():
    result = run("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "--dry-run" in result.stdout and "exit codes" in result.stdout


@pytest.mark.parametrize("example", [POLICY_EXAMPLE, DOCUMENT_EXAMPLE], ids=lambda path: path.name)
def test_dry_run_accepts_the_examples(example):
    event = example.name.rsplit(".v", 1)[0]
    result = run(event, str(example), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"valid {event}" in result.stdout


def test_without_jsonschema_it_stops_saying_what_to_install_and_publishes_nothing():
    result = run("policy.upserted", str(POLICY_EXAMPLE), "--dry-run", without_jsonschema=True)
    assert result.returncode == 1
    assert "pip install jsonschema" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_dry_run_rejects_an_invalid_message_naming_each_field(tmp_path):
    message = policy()
    message["premium"]["amount"] = -1
    del message["policyholder"]["mother_name"]
    result = run("policy.upserted", str(write(tmp_path, message)), "--dry-run")
    assert result.returncode == 2
    assert "$.premium.amount" in result.stderr
    assert "'mother_name' is a required property" in result.stderr
    assert "nothing published" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_array_from_stdin_names_the_bad_element():
    good, bad = policy(), policy()
    bad["status"] = "cancelled"
    result = run("policy.upserted", "-", "--dry-run", stdin=json.dumps([good, bad]))
    assert result.returncode == 2
    assert "stdin[1] $.status: 'cancelled' is not one of" in result.stderr
    assert "stdin[0]" not in result.stderr


def test_invalid_message_is_not_published_even_without_dry_run(tmp_path):
    message = policy()
    message["product"] = "life"
    # An unreachable broker proves validation comes first: exit 2 (invalid), not 1 (cannot connect).
    result = run("policy.upserted", str(write(tmp_path, message)), "--amqp-url", "amqp://guest:guest@127.0.0.1:1/")
    assert result.returncode == 2
    assert "$.product" in result.stderr


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ('{"amount": NaN}', "NaN is not a JSON value"),
    ("[]", "empty array"),
    ("[1]", "an event must be a JSON object"),
])
def test_unreadable_input_exits_2(content, expected):
    result = run("policy.upserted", "-", "--dry-run", stdin=content)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = run("policy.upserted", str(tmp_path / "nope.json"), "--dry-run")
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "No such file" in result.stderr


def test_internal_events_cannot_be_published():
    result = run("account.activated", str(POLICY_EXAMPLE), "--dry-run")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_message_id_with_several_messages_is_refused(tmp_path):
    result = run("policy.upserted", str(write(tmp_path, [policy(), policy()])), "--message-id", "m-1", "--dry-run")
    assert result.returncode == 2
    assert "--message-id names one message" in result.stderr


def test_unreachable_broker_exits_1_without_leaking_the_password():
    result = run("policy.upserted", str(POLICY_EXAMPLE), "--amqp-url", "amqp://guest:s3cret@127.0.0.1:1/%2F")
    assert result.returncode == 1
    assert "cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/%2F" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def document_meta() -> dict:
    meta = json.loads(DOCUMENT_EXAMPLE.read_text(encoding="utf-8"))
    for filled_by_upload in ("document_id", "uploaded_at", "bucket", "key", "content_type", "size", "sha256"):
        del meta[filled_by_upload]
    return meta


def test_upload_dry_run_fills_the_file_fields(tmp_path):
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(b"%PDF-1.7\n% demo\n")
    result = run("document.uploaded", str(write(tmp_path, document_meta())), "--upload", str(pdf), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "valid document.uploaded" in result.stdout and "uploaded s3://" not in result.stdout


def test_upload_refuses_a_file_that_is_not_a_pdf(tmp_path):
    fake = tmp_path / "notice.pdf"
    fake.write_text("hello", encoding="utf-8")
    result = run("document.uploaded", str(write(tmp_path, document_meta())), "--upload", str(fake), "--dry-run")
    assert result.returncode == 2
    assert "does not look like a PDF" in result.stderr


def test_upload_refuses_an_empty_file(tmp_path):
    empty = tmp_path / "notice.pdf"
    empty.write_bytes(b"")
    result = run("document.uploaded", str(write(tmp_path, document_meta())), "--upload", str(empty), "--dry-run")
    assert result.returncode == 2
    assert "$.size: 0 is less than the minimum of 1" in result.stderr


def test_upload_only_goes_with_document_uploaded(tmp_path):
    result = run("policy.upserted", str(POLICY_EXAMPLE), "--upload", str(POLICY_EXAMPLE), "--dry-run")
    assert result.returncode == 2
    assert "--upload only goes with document.uploaded" in result.stderr


def test_prepare_document_fills_from_the_file(publish_module, tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_S3_INBOX_BUCKET", raising=False)
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(b"%PDF-1.7 demo")
    filled = publish_module.prepare_document(document_meta(), pdf, None)
    assert filled["bucket"] == "portal-inbox"
    assert filled["key"] == f"inbox/{filled['document_id']}.pdf"
    assert filled["content_type"] == "application/pdf"
    assert filled["size"] == len(b"%PDF-1.7 demo")
    assert filled["sha256"] == hashlib.sha256(b"%PDF-1.7 demo").hexdigest()
    assert publish_module.is_uuid(filled["document_id"]) and publish_module.is_date_time(filled["uploaded_at"])


def test_prepare_document_keeps_what_the_meta_gives(publish_module, tmp_path):
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(b"%PDF-1.7 demo")
    meta = {**document_meta(), "document_id": "3f6c2a9e-8b1d-4c7a-9e52-1d0b7a4f6c21", "key": "inbox/custom.pdf",
            "bucket": "meta-bucket", "size": 1, "sha256": "0" * 64}
    filled = publish_module.prepare_document(meta, pdf, "cli-bucket")
    assert filled["document_id"] == meta["document_id"] and filled["key"] == "inbox/custom.pdf"
    assert filled["bucket"] == "cli-bucket"  # --bucket wins over the meta
    assert filled["size"] == 13 and filled["sha256"] != "0" * 64  # always from the file
