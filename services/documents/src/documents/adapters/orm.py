"""Tables and the imperative mapping of the domain classes (the domain stays free of SQLAlchemy)."""
from __future__ import annotations

import functools

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table
from sqlalchemy.orm import registry

from portal_common.db import UTCDateTime, map_aggregate, plumbing_tables

from ..domain import model

metadata = MetaData()
mapper_registry = registry(metadata=metadata)

documents = Table(
    "documents", metadata,
    Column("document_id", String(36), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("policy_number", String(64), nullable=False),
    Column("doc_type", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("bucket", String(63), nullable=False),
    Column("key", String(1024), nullable=False),
    Column("uploaded_at", UTCDateTime(), nullable=False),
    Column("available_until", UTCDateTime(), nullable=False),
    Column("stored_at", UTCDateTime(), nullable=False),
    Column("read_at", UTCDateTime(), nullable=True),
    Column("announced_at", UTCDateTime(), nullable=True),
    Column("first_opened_at", UTCDateTime(), nullable=True),
    Column("first_downloaded_at", UTCDateTime(), nullable=True),
    Column("last_downloaded_at", UTCDateTime(), nullable=True),
    Column("download_count", Integer, nullable=False, default=0, server_default="0"),
    Column("reminder_sent_at", UTCDateTime(), nullable=True),
    # The list is "newest first per customer"; the sweep looks for the oldest windows.
    Index("ix_documents_customer_uploaded", "customer_id", "uploaded_at"),
    Index("ix_documents_available_until", "available_until"),
)

policy_owners = Table(
    "policy_owners", metadata,
    Column("policy_number", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

customers = Table(
    "customers", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
)

outbox, processed_messages = plumbing_tables(metadata)

@functools.cache  # once per process, however many apps and workers a process bootstraps
def start_mappers() -> None:
    map_aggregate(mapper_registry, model.Document, documents)
    mapper_registry.map_imperatively(model.PolicyOwner, policy_owners)
    mapper_registry.map_imperatively(model.Customer, customers)
