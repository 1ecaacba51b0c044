"""Container healthcheck: exit 0 when URL answers 2xx, else 1. Usage: healthcheck.py URL [TIMEOUT_SECONDS]

The python:3.11-slim image has no curl; the standard library is enough and adds nothing to the image.
Compose calls it with /readyz; kubernetes uses its own httpGet probes instead.
"""
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: healthcheck.py URL [TIMEOUT_SECONDS]", file=sys.stderr)
        return 2
    url, timeout = argv[1], float(argv[2]) if len(argv) > 2 else 3.0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
