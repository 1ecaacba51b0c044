"""``make run``'s S3 mirror survives the documents worker deleting objects between the listing and the fetch."""
from __future__ import annotations

import uuid

import pytest
from moto.server import ThreadedMotoServer

from portal_common.testing import free_port
from portal_devstack import s3 as devs3

BUCKET = f"mirror-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def s3():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto keeps buckets in process-wide state that every moto server of this pytest process shares (other tests'
    # "portal-inbox" holds their objects): these tests use a bucket no other test uses.
    try:
        yield devs3.client(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def test_an_object_deleted_between_list_and_get_is_skipped_and_the_rest_mirrored(s3, tmp_path, monkeypatch):
    s3.create_bucket(Bucket=BUCKET)
    for key in ("a.pdf", "gone.pdf", "z.pdf"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    real_get = s3.get_object

    def racing_get(**kwargs):  # the worker deletes the object right after the listing
        if kwargs["Key"] == "gone.pdf":
            s3.delete_object(Bucket=kwargs["Bucket"], Key="gone.pdf")
        return real_get(**kwargs)
    monkeypatch.setattr(s3, "get_object", racing_get)

    seen: dict = {}
    assert devs3.mirror_safely(s3, tmp_path, seen)
    files = sorted(p.name for p in (tmp_path / BUCKET).iterdir() if not p.name.endswith(".meta.json"))
    assert files == ["a.pdf", "z.pdf"]
    assert (tmp_path / BUCKET / "z.pdf").read_bytes() == b"z.pdf"


def test_a_file_of_an_object_deleted_since_the_last_pass_is_removed(s3, tmp_path):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="doc.pdf", Body=b"pdf")
    seen: dict = {}
    devs3.mirror(s3, tmp_path, seen)
    assert (tmp_path / BUCKET / "doc.pdf").exists()
    s3.delete_object(Bucket=BUCKET, Key="doc.pdf")
    devs3.mirror(s3, tmp_path, seen)
    assert not (tmp_path / BUCKET / "doc.pdf").exists()


def test_a_failing_pass_is_reported_and_does_not_end_the_process(tmp_path, capsys):
    class Broken:
        def list_buckets(self):
            raise ConnectionError("S3 went away")
    assert devs3.mirror_safely(Broken(), tmp_path, {}) is False
    assert "s3 mirror pass failed, retrying in the next one: ConnectionError: S3 went away" in capsys.readouterr().out


def test_what_a_kill_mid_write_left_does_not_stop_the_next_start(s3, tmp_path, capsys):
    # Before the mirror wrote atomically, a kill during a pass left an empty lifecycle file (and could leave a cut
    # object): the restore at the next start failed on it, and the S3 process crash-looped.
    bucket = f"mirror-kill-{uuid.uuid4().hex[:8]}"  # its own: the other tests left objects in bucket
    root = tmp_path / "s3"
    (root / bucket).mkdir(parents=True)
    (root / f"{bucket}.lifecycle.json").write_text("")
    (root / bucket / "a.pdf").write_bytes(b"whole")
    (root / bucket / "b.pdf.partial").write_bytes(b"cu")
    assert devs3.restore(s3, root) == 1
    assert f"s3: ignoring the unreadable {root / f'{bucket}.lifecycle.json'}" in capsys.readouterr().out
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a.pdf"]
    devs3.mirror(s3, root, {})
    assert sorted(p.name for p in (root / bucket).iterdir()) == ["a.pdf", "a.pdf.meta.json"]
