from alembic import context

from identity import SERVICE
from identity.adapters.orm import metadata
from portal_common.migrations import run_env

run_env(context, metadata, SERVICE)
