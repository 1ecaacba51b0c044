from alembic import context

from documents import SERVICE
from documents.adapters.orm import metadata
from portal_common.migrations import run_env

run_env(context, metadata, SERVICE)
