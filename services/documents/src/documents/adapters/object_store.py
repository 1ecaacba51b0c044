"""Object store port (S3) and its adapters: :class:`S3ObjectStore` (boto3) and :class:`FakeObjectStore`.

Checksums: S3 keeps a SHA-256 of an object when the uploader asked for one (``ChecksumAlgorithm=SHA256``; S3 verifies
the bytes it receives against it) and computes one for a copy made with ``ChecksumAlgorithm=SHA256``. Either one
lets the service verify a document without downloading it; only when neither is available (a store without
checksum support, a multipart object's composite checksum) does it stream the object and hash it.
"""
from __future__ import annotations

import abc
import base64
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from portal_common import logs

from documents.domain.model import LIFECYCLE_DAYS

log = logs.get_logger(__name__)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None = None
    sha256: str | None = None  # hex, when the store holds a full-object SHA-256 for it


@dataclass
class StoredObject:
    """An open object: iterate :meth:`chunks` once; always :meth:`close`."""

    size: int
    content_type: str | None
    _chunks: Iterator[bytes]
    _close: callable = lambda: None

    def chunks(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._close()


class StoreUnavailable(RuntimeError):
    """The object store could not be reached or answered with an unexpected error (transient)."""


class AbstractObjectStore(abc.ABC):
    @abc.abstractmethod
    def ensure_buckets(self, documents_bucket: str, inbox_bucket: str, lifecycle_days: int) -> None:
        """Create both buckets when missing and put the expiry rule on the documents bucket (idempotent)."""

    @abc.abstractmethod
    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """``None`` when the object does not exist."""

    def listed_size(self, bucket: str, key: str) -> int | None:
        """The object's size from a recent listing of ``bucket``, when the adapter keeps one (else ``None``).
        Only ever used to *accept* a size that equals the declared one; any disagreement goes to :meth:`head`."""
        return None

    @abc.abstractmethod
    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> str | None:
        """Server-side copy; returns the store's SHA-256 (hex) of the new object when it computes one.
        Raises ``KeyError`` when the source does not exist."""

    @abc.abstractmethod
    def sha256_of(self, bucket: str, key: str) -> str:
        """Stream the object and hash it (the slow path)."""

    @abc.abstractmethod
    def open(self, bucket: str, key: str) -> StoredObject | None: ...

    @abc.abstractmethod
    def read_prefix(self, bucket: str, key: str, length: int) -> bytes:
        """The first ``length`` bytes (fewer for a shorter object): one ranged GET. Raises ``KeyError`` when missing."""

    @abc.abstractmethod
    def delete_many(self, bucket: str, keys: list[str]) -> None:
        """Delete objects; deleting a missing object is not an error."""

    def delete_objects(self, objects: list[tuple[str, str]]) -> None:
        """Delete ``(bucket, key)`` pairs with one ``delete_many`` per bucket: what ingestion schedules after its
        commit (``uow.after_commit_each(store.delete_objects, (bucket, key))``), one call for a whole batch."""
        by_bucket: dict[str, list[str]] = {}
        for bucket, key in objects:
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            self.delete_many(bucket, keys)

    def ping(self) -> None:
        """Raise when the store is not reachable (readiness)."""


def _hex_checksum(b64: str | None) -> str | None:
    # A multipart object's checksum is a checksum of part checksums ("…-3"): not the file's SHA-256.
    if not b64 or "-" in b64:
        return None
    try:
        return base64.b64decode(b64).hex()
    except (ValueError, TypeError):
        return None


class S3ObjectStore(AbstractObjectStore):
    """boto3 against S3 or an S3-compatible store (MinIO, moto's server); path-style addressing."""

    def __init__(self, *, endpoint_url: str | None, access_key_id: str | None, secret_access_key: str | None,
                 region: str, documents_bucket: str | None = None):
        import boto3
        from botocore.config import Config

        self.region = region
        self.documents_bucket = documents_bucket
        self._listed: dict[tuple[str, str], tuple[int, float]] = {}
        self._listed_at: dict[str, float] = {}
        self._listing_lock = threading.Lock()
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url or None, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key, region_name=region,
            # Bounded waits and retries: a hung store must fail the message (retried later), not the worker.
            config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30,
                          retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=20),
        )

    @classmethod
    def from_settings(cls, settings) -> "S3ObjectStore":
        return cls(endpoint_url=settings.s3_endpoint_url, access_key_id=settings.s3_access_key_id,
                   secret_access_key=settings.s3_secret_access_key, region=settings.s3_region,
                   documents_bucket=settings.documents_bucket)

    @staticmethod
    def _code(exc) -> str:
        return str(exc.response.get("Error", {}).get("Code", "")) if hasattr(exc, "response") else ""

    def _missing(self, exc) -> bool:
        return self._code(exc) in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")

    # -- buckets
    def ensure_buckets(self, documents_bucket, inbox_bucket, lifecycle_days):
        from botocore.exceptions import ClientError

        for bucket in (documents_bucket, inbox_bucket):
            try:
                self.client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if not self._missing(exc) and self._code(exc) != "403":
                    raise
                kwargs = {} if self.region == "us-east-1" else {
                    "CreateBucketConfiguration": {"LocationConstraint": self.region}}
                try:
                    self.client.create_bucket(Bucket=bucket, **kwargs)
                    log.info("bucket_created", bucket=bucket)
                except ClientError as exc2:
                    if self._code(exc2) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        self._ensure_lifecycle(documents_bucket, lifecycle_days)

    def _ensure_lifecycle(self, bucket: str, days: int) -> None:
        """Put our rule (:data:`LIFECYCLE_RULE_ID`) on ``bucket``, keeping every other rule but the whole-bucket
        expiry rules that ``deploy/minio/init.sh`` of earlier releases added under a random ID (397 days before the
        rule became 398, or the configured days): the shortest rule wins in S3, so a left-over 397-day rule would
        delete documents on their last shown day. Another whole-bucket rule shorter than the window is an
        operator's: kept, and logged as an error on every start."""
        from botocore.exceptions import ClientError

        rule = {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": days}}
        try:
            rules = self.client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
        except ClientError as exc:
            if self._code(exc) != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        legacy = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID
                  and _expires_whole_bucket(r) in (*LEGACY_INIT_RULE_DAYS, days)]
        others = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID and r not in legacy]
        for other in others:
            other_days = _expires_whole_bucket(other)
            if other_days is not None and other_days < LIFECYCLE_DAYS:
                log.error("bucket_lifecycle_rule_expires_documents_early", bucket=bucket, rule_id=other.get("ID"),
                          expiration_days=other_days, min_safe_days=LIFECYCLE_DAYS,
                          hint="this rule deletes documents the portal still shows; remove it unless meant")
        ours = [r for r in rules if r.get("ID") == LIFECYCLE_RULE_ID]
        if not legacy and ours and ours[0].get("Expiration", {}).get("Days") == days \
                and ours[0].get("Status") == "Enabled":
            return
        self.client.put_bucket_lifecycle_configuration(Bucket=bucket,
                                                       LifecycleConfiguration={"Rules": [*others, rule]})
        for old in legacy:
            log.warning("bucket_lifecycle_legacy_rule_removed", bucket=bucket, rule_id=old.get("ID"),
                        expiration_days=_expires_whole_bucket(old))
        log.info("bucket_lifecycle_set", bucket=bucket, expiration_days=days)

    def ping(self):
        if self.documents_bucket:
            self.client.head_bucket(Bucket=self.documents_bucket)
        else:
            self.client.list_buckets()

    # -- objects
    def head(self, bucket, key):
        from botocore.exceptions import ClientError

        try:
            got = self.client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise
        return ObjectInfo(size=int(got["ContentLength"]), content_type=got.get("ContentType"),
                          sha256=_hex_checksum(got.get("ChecksumSHA256")))

    #: A listing older than this is not trusted for sizes.
    LISTING_TTL = 30.0
    LISTING_PAGE = 1000
    LISTING_MAX_PAGES = 10

    def listed_size(self, bucket, key):
        """Bulk loads (a month's premium notices) put thousands of objects into the inbox at once: one listing of
        the inbox gives the sizes of up to 10,000 of them, which saves a HEAD per document. The inbox is listed at
        most once per ``LISTING_TTL`` (by one consumer while the others wait); a key the fresh listing does not
        hold — an upload that came after it — gets ``None`` and so a HEAD. Each entry is used once."""
        with self._listing_lock:  # single flight: concurrent consumers share one listing
            now = time.monotonic()
            hit = self._listed.pop((bucket, key), None)
            if hit is not None and now - hit[1] < self.LISTING_TTL:
                return hit[0]
            if now - self._listed_at.get(bucket, float("-inf")) < self.LISTING_TTL:
                return None
            self._listed = {k: v for k, v in self._listed.items() if k[0] != bucket}
            self._listed_at[bucket] = now
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, PaginationConfig={"PageSize": self.LISTING_PAGE, "MaxItems": self.LISTING_PAGE
                                                 * self.LISTING_MAX_PAGES})
            found = None
            for page in pages:
                for obj in page.get("Contents", []):
                    if obj["Key"] == key:
                        found = int(obj["Size"])
                    else:
                        self._listed[(bucket, obj["Key"])] = (int(obj["Size"]), now)
            return found

    def copy(self, src_bucket, src_key, dst_bucket, dst_key):
        from botocore.exceptions import ClientError

        try:
            got = self.client.copy_object(Bucket=dst_bucket, Key=dst_key,
                                          CopySource={"Bucket": src_bucket, "Key": src_key},
                                          ChecksumAlgorithm="SHA256", MetadataDirective="COPY")
        except ClientError as exc:
            if self._missing(exc):
                raise KeyError(f"s3://{src_bucket}/{src_key}") from exc
            raise
        return _hex_checksum(got.get("CopyObjectResult", {}).get("ChecksumSHA256"))

    def sha256_of(self, bucket, key):
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        try:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
        finally:
            body.close()
        return digest.hexdigest()

    def open(self, bucket, key):
        from botocore.exceptions import ClientError

        try:
            got = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise
        body = got["Body"]
        return StoredObject(int(got["ContentLength"]), got.get("ContentType"), body.iter_chunks(CHUNK), body.close)

    def read_prefix(self, bucket, key, length):
        from botocore.exceptions import ClientError

        try:
            got = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")
        except ClientError as exc:
            if self._missing(exc):
                raise KeyError(f"s3://{bucket}/{key}") from exc
            raise
        body = got["Body"]
        try:
            return body.read(length)
        finally:
            body.close()

    def delete_many(self, bucket, keys):
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            part = keys[start:start + 1000]
            got = self.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in part],
                                                                    "Quiet": True})
            errors = [e for e in got.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise StoreUnavailable(f"could not delete {len(errors)} objects from {bucket}: {errors[0]}")


LIFECYCLE_RULE_ID = "portal-document-retention"
#: The expiry days of the rule that ``deploy/minio/init.sh`` added (with a random ID) before the service became the
#: rule's only writer: 397 until the window was counted on the Budapest calendar.
LEGACY_INIT_RULE_DAYS = (397,)


def _expires_whole_bucket(rule: dict) -> int | None:
    """The days after which an enabled ``rule`` deletes the current version of *every* object, else ``None``
    (a rule limited by a prefix, tags or sizes, a disabled one, a date, or one without an expiration)."""
    if rule.get("Status") != "Enabled":
        return None
    flt = rule.get("Filter")
    if flt is None:
        whole = not rule.get("Prefix")
    else:
        whole = set(flt) <= {"Prefix"} and not flt.get("Prefix")
    days = rule.get("Expiration", {}).get("Days")
    return int(days) if whole and days else None


@dataclass
class _FakeObject:
    data: bytes
    content_type: str | None
    sha256: str | None


@dataclass
class FakeObjectStore(AbstractObjectStore):
    """In-memory store for unit tests. ``stored_checksums`` / ``copy_checksums`` switch the two fast paths off."""

    objects: dict = field(default_factory=dict)
    buckets: dict = field(default_factory=dict)  # name -> lifecycle days (None: no rule)
    stored_checksums: bool = True
    copy_checksums: bool = True
    fail_deletes: bool = False
    listing: bool = False  # listed_size() answers (like S3ObjectStore after a listing)
    calls: list = field(default_factory=list)

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/pdf", *,
            checksum: bool = True) -> None:
        self.objects[(bucket, key)] = _FakeObject(data, content_type,
                                                  hashlib.sha256(data).hexdigest() if checksum else None)

    def data(self, bucket: str, key: str) -> bytes | None:
        obj = self.objects.get((bucket, key))
        return obj.data if obj else None

    def ensure_buckets(self, documents_bucket, inbox_bucket, lifecycle_days):
        self.calls.append(("ensure_buckets", documents_bucket, inbox_bucket))
        self.buckets.setdefault(inbox_bucket, None)
        self.buckets[documents_bucket] = lifecycle_days

    def head(self, bucket, key):
        self.calls.append(("head", bucket, key))
        obj = self.objects.get((bucket, key))
        if obj is None:
            return None
        return ObjectInfo(len(obj.data), obj.content_type, obj.sha256 if self.stored_checksums else None)

    def listed_size(self, bucket, key):
        if not self.listing:
            return None
        self.calls.append(("listed_size", bucket, key))
        obj = self.objects.get((bucket, key))
        return len(obj.data) if obj else None

    def copy(self, src_bucket, src_key, dst_bucket, dst_key):
        self.calls.append(("copy", src_bucket, src_key, dst_bucket, dst_key))
        obj = self.objects.get((src_bucket, src_key))
        if obj is None:
            raise KeyError(f"s3://{src_bucket}/{src_key}")
        digest = hashlib.sha256(obj.data).hexdigest()
        self.objects[(dst_bucket, dst_key)] = _FakeObject(obj.data, obj.content_type, digest)
        return digest if self.copy_checksums else None

    def sha256_of(self, bucket, key):
        self.calls.append(("sha256_of", bucket, key))
        return hashlib.sha256(self.objects[(bucket, key)].data).hexdigest()

    def open(self, bucket, key):
        self.calls.append(("open", bucket, key))
        obj = self.objects.get((bucket, key))
        if obj is None:
            return None
        chunks = (obj.data[i:i + 7] for i in range(0, len(obj.data), 7))
        return StoredObject(len(obj.data), obj.content_type, chunks)

    def read_prefix(self, bucket, key, length):
        self.calls.append(("read_prefix", bucket, key))
        obj = self.objects.get((bucket, key))
        if obj is None:
            raise KeyError(f"s3://{bucket}/{key}")
        return obj.data[:length]

    def delete_many(self, bucket, keys):
        self.calls.append(("delete_many", bucket, tuple(keys)))
        if self.fail_deletes:
            raise StoreUnavailable("delete failed (fake)")
        for key in keys:
            self.objects.pop((bucket, key), None)
