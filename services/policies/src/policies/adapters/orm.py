"""Tables and the imperative mapping of the domain classes (the domain stays free of SQLAlchemy)."""
from __future__ import annotations

import functools

from sqlalchemy import Boolean, Column, Date, ForeignKey, Integer, MetaData, String, Table
from sqlalchemy.orm import registry, relationship

from portal_common.db import UTCDateTime, map_aggregate, plumbing_tables

from ..domain import model

metadata = MetaData()
mapper_registry = registry(metadata=metadata)

policyholders = Table(
    "policyholders", metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("birth_name", String(200), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("birth_place", String(200), nullable=False),
    Column("mother_name", String(200), nullable=False),
    Column("email", String(320)),
    Column("mobile", String(32)),
    Column("updated_at", UTCDateTime()),
)

policies = Table(
    "policies", metadata,
    Column("policy_number", String(64), primary_key=True),
    Column("product", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("payment_method", String(20), nullable=False),
    Column("premium_amount", Integer, nullable=False),
    Column("premium_frequency", String(20), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("customer_id", String(64), ForeignKey("policyholders.customer_id"), nullable=False, index=True),
    Column("epost", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

outbox, processed_messages = plumbing_tables(metadata)

@functools.cache  # once per process, however many apps and workers a process bootstraps
def start_mappers() -> None:
    mapper_registry.map_imperatively(model.Policyholder, policyholders)
    # The relationship is there for the unit of work's insert order (holder before policy), not for navigation.
    map_aggregate(mapper_registry, model.Policy, policies, properties={
        "_holder": relationship(model.Policyholder, lazy="raise")})
