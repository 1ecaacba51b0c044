from alembic import context

from notify import SERVICE
from notify.adapters.orm import metadata
from portal_common.migrations import run_env

run_env(context, metadata, SERVICE)
