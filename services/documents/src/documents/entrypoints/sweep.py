"""Retention sweep for operators: delete every document past its 13-month window, now.

``python -m documents.entrypoints.sweep [--dry-run]`` prints ``{"deleted": n, "document_ids": [...]}`` as JSON.
The worker runs the same sweep every ``PORTAL_RETENTION_SWEEP_SECONDS``; running both at once is safe.
"""
from __future__ import annotations

import argparse
import json
import sys

from portal_common import logs

from ..bootstrap import bootstrap
from ..service_layer import handlers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m documents.entrypoints.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    args = parser.parse_args(argv)
    logs.configure_logging("documents-sweep")
    wiring = bootstrap()
    removed = handlers.sweep_expired(wiring.uow, wiring.store, wiring.clock(), dry_run=args.dry_run)
    key = "would_delete" if args.dry_run else "deleted"
    print(json.dumps({key: len(removed), "document_ids": removed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
