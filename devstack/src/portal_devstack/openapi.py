"""``make contracts``: write each service's internal OpenAPI document to ``contracts/http/<service>.openapi.json``."""
from __future__ import annotations

import importlib
import json

from portal_common import config

SERVICES = ("identity", "policies", "documents", "notify")


def main() -> None:
    out = config.contracts_dir() / "http"
    out.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        try:
            module = importlib.import_module(f"{name}.entrypoints.openapi")
        except ModuleNotFoundError:
            print(f"skipped {name}: no {name}.entrypoints.openapi")
            continue
        path = out / f"{name}.openapi.json"
        path.write_text(json.dumps(module.build(), indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
