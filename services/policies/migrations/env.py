from alembic import context

from policies import SERVICE
from policies.adapters.orm import metadata
from portal_common.migrations import run_env

run_env(context, metadata, SERVICE)
