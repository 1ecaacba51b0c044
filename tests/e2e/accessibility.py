"""axe-core (Deque's accessibility engine, bundled by axe-playwright-python) on a page, at a desktop and a phone
width: WCAG 2.x A and AA rules, no violation allowed."""
from __future__ import annotations

WIDTHS = (1280, 360)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]})
    return [f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
            for v in results.response["violations"]]


def assert_accessible(page, label: str) -> None:
    """Checks the page as it is now, at every width (the layout changes at the phone width)."""
    size = page.viewport_size
    found = {}
    try:
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            problems = violations(page)
            if problems:
                found[width] = problems
    finally:
        page.set_viewport_size(size)
    assert not found, f"{label} ({page.url}): {found}"
