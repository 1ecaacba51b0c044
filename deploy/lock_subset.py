"""The part of requirements.lock that some packages need: ``python deploy/lock_subset.py [--lock F] PKG … | --all``.

requirements.lock is the ONE lock of the repository (``make lock``: uv pip compile with hashes). An image needs only
its own package's dependencies, so this follows the lock's ``# via`` annotations (who requires whom) from the given
roots and prints those entries, hashes and markers included, ready for ``pip install --require-hashes --no-deps``.
``--all`` prints every pinned entry (``make test``). Editable local packages (``-e ./…``) are never printed: they
are installed from the source tree with ``--no-deps``. Standard library only: it runs in the image's build stage.

    python deploy/lock_subset.py portal-common portal-documents > /tmp/requirements.txt
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0].strip()).lower()


def parse(text: str) -> dict[str, tuple[str, set[str]]]:
    """Lock entries: normalised name -> (the entry's text, the names it is required by)."""
    entries: dict[str, tuple[str, set[str]]] = {}
    name, lines, via, in_via = None, [], set(), False

    def close():
        if name is not None:
            previous = entries.get(name)
            block = "\n".join(lines) + "\n"
            # one name can have several entries with exclusive markers (python_version < / >=): keep them all
            entries[name] = ((previous[0] if previous else "") + block, (previous[1] if previous else set()) | via)

    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace() and not line.startswith("#"):
            close()
            name, lines, via, in_via = None, [], set(), False
            if line.startswith("-"):
                continue  # -e ./local/package, --index-url …: never printed
            name = normalise(re.split(r"[=<>!~; \\]", line, 1)[0])
            lines = [line]
        elif name is None:
            continue
        elif line.strip().startswith("--hash") or lines[-1].rstrip().endswith("\\"):
            lines.append(line)
        elif line.strip().startswith("# via"):
            rest = line.strip()[len("# via"):].strip()
            in_via = not rest
            if rest:
                via.add(rest)
        elif in_via and line.strip().startswith("#"):
            via.add(line.strip().lstrip("#").strip())
    close()
    return {n: (block, {normalise(v) for v in vias if not v.startswith("-r ")}) for n, (block, vias) in entries.items()}


def closure(entries: dict[str, tuple[str, set[str]]], roots: set[str]) -> list[str]:
    needed = {normalise(r) for r in roots}
    changed = True
    while changed:
        changed = False
        for name, (_, vias) in entries.items():
            if name not in needed and vias & needed:
                needed.add(name)
                changed = True
    return sorted(name for name in needed if name in entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", help="distribution names, e.g. portal-common portal-documents")
    parser.add_argument("--all", action="store_true", help="every pinned entry")
    parser.add_argument("--lock", type=Path, default=LOCK)
    args = parser.parse_args(argv)
    if not args.all and not args.packages:
        parser.error("name the packages (portal-common portal-<service>) or pass --all")
    entries = parse(args.lock.read_text(encoding="utf-8"))
    names = sorted(entries) if args.all else closure(entries, set(args.packages))
    sys.stdout.write("".join(entries[name][0] for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
