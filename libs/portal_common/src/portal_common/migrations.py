"""The body of every service's Alembic ``env.py``: one definition, so the services migrate alike.

The URL comes from ``ALEMBIC_DATABASE_URL`` (tests, one-shot jobs) or the service's ``PORTAL_<SERVICE>_DATABASE_URL``.
"""
from __future__ import annotations

import os

from sqlalchemy import MetaData, pool

from . import config
from .db import engine_url, make_engine


def run_env(context, target_metadata: MetaData, service: str) -> None:
    url = engine_url(os.environ.get("ALEMBIC_DATABASE_URL") or config.database_url(service))
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool) if not url.startswith("sqlite") else make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
