"""Fixtures of the browser tests: the zoo's reports, the matrix built from them, and Chromium.

Collected only where Playwright is installed (the ``browser`` extra; tox env ``browser``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

collect_ignore_glob = [] if importlib.util.find_spec("playwright") else ["test_*.py"]

if collect_ignore_glob == []:
    from playwright.sync_api import BrowserContext, Page

    from conformance._matrix import write_matrix_html
    from tests.browser._pages import REPORTS, SCREENSHOTS, NoBrowser, chromium, produce, zoo

    @pytest.fixture(scope="session")
    def reports() -> dict[str, dict[str, Any]]:
        """The JSON reports of :data:`tests.browser._pages.RUNS`, with HTML beside them in
        reports/."""
        with zoo() as url:
            return produce(url, REPORTS)

    @pytest.fixture(scope="session")
    def matrix(reports: dict[str, dict[str, Any]]) -> Path:
        out = REPORTS / "zoo-matrix.html"
        names = list(reports)
        write_matrix_html([REPORTS / f"{name}.json" for name in names], names, out)
        return out

    @pytest.fixture(scope="module")
    def context() -> Iterator[BrowserContext]:
        """Chromium for one module: Playwright's event loop ends with it, so tests run after
        the browser tests in the same process (asyncio ones included) get a loop of their own."""
        try:
            with chromium() as browser_context:
                yield browser_context
        except NoBrowser as error:
            pytest.fail(str(error), pytrace=False)

    @pytest.fixture
    def page(context: BrowserContext) -> Iterator[Page]:
        """A fresh tab that records every URL it requests (the reports must need none but
        their own file)."""
        tab = context.new_page()
        requested: list[str] = []
        tab.on("request", lambda request: requested.append(request.url))
        tab.requested = requested  # type: ignore[attr-defined]
        yield tab
        tab.close()

    @pytest.fixture(scope="session")
    def screenshots() -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
