"""Chaos tests: the reference app as a process, against hostile clients and failing databases.

They run only when selected with ``-m chaos`` (``tox -e chaos``), so that the ordinary runs of
``tests`` stay fast. Every wait is bounded polling on a condition, never a sleep.
"""

from __future__ import annotations

import pytest

from tests.test_app_server import start  # noqa: F401  (the fixture that starts the CLI)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the chaos tests unless the marker expression names them."""
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]
