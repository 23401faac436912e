"""Regenerate the README's screenshots (docs/matrix.png, docs/report-failure.png)::

    uv run --extra browser python -m tests.browser.screenshots

Runs the suite (quick profile) against the zoo's correct implementation and three mutants, builds
their matrix in reports/, and photographs it and one failure section in headless Chromium.
"""

from __future__ import annotations

import sys

from conformance._matrix import write_matrix_html
from tests.browser._pages import REPORTS, ROOT, NoBrowser, chromium, produce, zoo

DOCS = ROOT / "docs"
#: The matrix columns: name -> (zoo variant, extra pytest arguments).
COLUMNS: dict[str, tuple[str, list[str]]] = {
    "zoo-correct": ("correct", []),
    "zoo-create-200": ("create-200", []),
    "zoo-not-found-html": ("not-found-html", []),
    "zoo-put-returns-old": ("put-returns-old", []),
}


def main() -> int:
    with zoo() as url:
        produce(url, REPORTS, COLUMNS)
    names = list(COLUMNS)
    matrix = REPORTS / "docs-matrix.html"
    write_matrix_html([REPORTS / f"{name}.json" for name in names], names, matrix)
    try:
        with chromium(width=1280, height=1100) as context:
            page = context.new_page()
            page.goto(matrix.as_uri())
            page.screenshot(path=DOCS / "matrix.png")  # the top of the page
            page.locator("#req-CREATE-OK td.cell").nth(1).get_by_role("link").click()
            page.wait_for_load_state()
            page.locator("article.cause").first.screenshot(path=DOCS / "report-failure.png")
    except NoBrowser as error:
        print(f"screenshots: {error}", file=sys.stderr)
        return 2
    print(f"wrote {DOCS / 'matrix.png'} and {DOCS / 'report-failure.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
