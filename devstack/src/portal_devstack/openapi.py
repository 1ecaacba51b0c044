"""``make contracts``: write each service's internal OpenAPI document to ``contracts/http/<service>.openapi.json``."""
from __future__ import annotations

import importlib

SERVICES = ("identity", "policies", "documents", "notify")


def main() -> None:
    for name in SERVICES:
        try:
            module = importlib.import_module(f"{name}.entrypoints.openapi")
        except ModuleNotFoundError:
            print(f"skipped {name}: no {name}.entrypoints.openapi")
            continue
        print(f"wrote {module.SPEC.write()}")


if __name__ == "__main__":
    main()
