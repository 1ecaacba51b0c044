"""The service's configuration, read once from ``PORTAL_*`` variables (see README.md)."""
from __future__ import annotations

from dataclasses import dataclass

from portal_common import config

from .domain.model import LIFECYCLE_DAYS


@dataclass(frozen=True)
class Settings:
    documents_bucket: str = "portal-documents"
    inbox_bucket: str = "portal-inbox"
    lifecycle_days: int = LIFECYCLE_DAYS
    sweep_seconds: int = 3600
    reminder_days: int = 30  # PORTAL_EXPIRY_REMINDER_DAYS: remind about an unread document this long before its end
    s3_endpoint_url: str | None = "http://127.0.0.1:9000"
    s3_access_key_id: str | None = "portal"
    s3_secret_access_key: str | None = "portal-secret"
    s3_region: str = "us-east-1"
    consumer_batch_size: int = 100
    consumers: int = 4  # PORTAL_DOCUMENTS_CONSUMERS: see entrypoints/worker.py and docs/benchmarks.md

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            documents_bucket=config.env("PORTAL_S3_DOCUMENTS_BUCKET", cls.documents_bucket),
            inbox_bucket=config.env("PORTAL_S3_INBOX_BUCKET", cls.inbox_bucket),
            lifecycle_days=config.env_int("PORTAL_DOCUMENT_LIFECYCLE_DAYS", cls.lifecycle_days),
            sweep_seconds=config.env_int("PORTAL_RETENTION_SWEEP_SECONDS", cls.sweep_seconds),
            reminder_days=config.env_int("PORTAL_EXPIRY_REMINDER_DAYS", cls.reminder_days),
            s3_endpoint_url=config.env("PORTAL_S3_ENDPOINT_URL", cls.s3_endpoint_url, production_required=True,
                                       real_host=True),
            s3_access_key_id=config.env("PORTAL_S3_ACCESS_KEY_ID", cls.s3_access_key_id, production_required=True),
            s3_secret_access_key=config.env("PORTAL_S3_SECRET_ACCESS_KEY", cls.s3_secret_access_key, secret=True,
                                            production_required=True),
            s3_region=config.env("PORTAL_S3_REGION", cls.s3_region),
            consumer_batch_size=config.env_int("PORTAL_DOCUMENTS_BATCH_SIZE", cls.consumer_batch_size),
            consumers=max(1, config.env_int("PORTAL_DOCUMENTS_CONSUMERS", cls.consumers)),
        )
