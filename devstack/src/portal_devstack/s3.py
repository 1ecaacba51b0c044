"""Local S3-compatible server for the embedded run: moto's server, mirrored to ``var/s3/`` so data survives restarts.

moto keeps objects in memory only. This process restores ``var/s3/<bucket>/<key>`` at start and mirrors the
buckets back every few seconds and at shutdown (Ctrl-C). Good enough for a developer's machine; production uses a
real S3-compatible store (MinIO in docker-compose.yml). ``python -m portal_devstack.s3 --port 9000``
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from portal_common import config
from portal_common.shutdown import on_stop_signals

ACCESS_KEY, SECRET_KEY = "portal", "portal-secret"


def client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


def restore(s3, root: Path) -> int:
    count = 0
    for bucket_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        s3.create_bucket(Bucket=bucket_dir.name)
        lifecycle = bucket_dir.with_suffix(".lifecycle.json")
        if lifecycle.exists():
            try:
                rules = json.loads(lifecycle.read_text())
            except ValueError:  # cut short by a kill before writes were atomic: the documents service sets it again
                print(f"s3: ignoring the unreadable {lifecycle}", flush=True)
            else:
                s3.put_bucket_lifecycle_configuration(Bucket=bucket_dir.name, LifecycleConfiguration=rules)
        for path in bucket_dir.rglob("*"):
            if path.is_file() and not path.name.endswith((".meta.json", PARTIAL)):
                meta_file = path.with_name(path.name + ".meta.json")
                meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
                s3.put_object(Bucket=bucket_dir.name, Key=str(path.relative_to(bucket_dir)), Body=path.read_bytes(),
                              ContentType=meta.get("ContentType", "application/octet-stream"),
                              **({"ChecksumSHA256": meta["ChecksumSHA256"]} if meta.get("ChecksumSHA256") else {}))
                count += 1
    return count


PARTIAL = ".partial"


def write_atomically(path: Path, data: bytes) -> None:
    """The whole file or the previous one, never a truncated one: this process may be killed in any write (SIGTERM
    before its handler is set, SIGKILL), and the next start restores from these files. A ``.partial`` left behind
    is skipped by ``restore`` and removed by the next mirror pass."""
    partial = path.with_name(path.name + PARTIAL)
    partial.write_bytes(data)
    os.replace(partial, path)


def mirror(s3, root: Path, seen: dict) -> None:
    """Write new/changed objects to disk and remove files of deleted ones.

    The documents worker deletes inbox objects while this runs: an object (or a bucket) listed a moment ago may be
    gone when it is fetched. That is not an error, only a deletion this pass did not see yet."""
    root.mkdir(parents=True, exist_ok=True)
    for bucket in s3.list_buckets().get("Buckets", []):
        try:
            _mirror_bucket(s3, root, bucket["Name"], seen)
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket":
                raise


def _mirror_bucket(s3, root: Path, name: str, seen: dict) -> None:
    bucket_dir = root / name
    bucket_dir.mkdir(exist_ok=True)
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        write_atomically(root / f"{name}.lifecycle.json", json.dumps({"Rules": rules}, default=str).encode())
    except ClientError as exc:
        if _code(exc) not in _NO_LIFECYCLE:
            raise
    present = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"]
            if seen.get((name, key)) == etag:
                present.add(key)
                continue
            try:
                got = s3.get_object(Bucket=name, Key=key, ChecksumMode="ENABLED")
                body = got["Body"].read()
            except ClientError as exc:
                if _code(exc) in _GONE:
                    continue  # deleted between the list and the get: the file (if any) goes below
                raise
            present.add(key)
            path = bucket_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, body)
            write_atomically(path.with_name(path.name + ".meta.json"), json.dumps(
                {"ContentType": got.get("ContentType"), "ChecksumSHA256": got.get("ChecksumSHA256")}).encode())
            seen[(name, key)] = etag
    for path in list(bucket_dir.rglob("*")):
        if path.is_file() and not path.name.endswith(".meta.json"):
            key = str(path.relative_to(bucket_dir))
            if key not in present:
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".meta.json").unlink(missing_ok=True)
                seen.pop((name, key), None)


_GONE = frozenset({"NoSuchKey", "404", "NoSuchBucket"})
_NO_LIFECYCLE = frozenset({"NoSuchLifecycleConfiguration", "NoSuchBucket"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def mirror_safely(s3, root: Path, seen: dict) -> bool:
    """One mirror pass that never ends the process: a failed pass is logged and the next one tries again (the
    objects stay in moto's memory meanwhile)."""
    try:
        mirror(s3, root, seen)
        return True
    except Exception as exc:  # noqa: BLE001 - a disk or S3 hiccup must not take the embedded S3 down
        print(f"s3 mirror pass failed, retrying in the next one: {type(exc).__name__}: {exc}", flush=True)
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--mirror-seconds", type=float, default=5.0)
    args = parser.parse_args()
    root = config.var_dir() / "s3"
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one request line per mirror pass is noise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{args.port}"
    s3 = client(endpoint)
    restored = restore(s3, root) if root.exists() else 0
    seen: dict = {}
    mirror(s3, root, seen)
    print(f"s3 on {endpoint} (restored {restored} objects from {root})", flush=True)
    stop = threading.Event()
    on_stop_signals(lambda _signum: stop.set())  # not stop.set() in the handler itself: see on_stop_signals
    while not stop.wait(args.mirror_seconds):
        mirror_safely(s3, root, seen)
    mirror_safely(s3, root, seen)
    server.stop()


if __name__ == "__main__":
    main()
