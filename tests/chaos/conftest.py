"""Chaos tests: the reference app as a process, against hostile clients and failing databases.

They run only when selected with ``-m chaos`` (``tox -e chaos``), so that the ordinary runs of
``tests`` stay fast. Every wait is bounded polling on a condition, never a sleep.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.test_app_server import Server, start_server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the chaos tests unless the marker expression names them."""
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    chaos = [item for item in items if item.get_closest_marker("chaos")]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if not item.get_closest_marker("chaos")]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    """``start(args, **variables)`` starts the CLI in ``tmp_path``; killed after the test."""
    started: list[Server] = []

    def start(args: Sequence[str], **variables: str) -> Server:
        started.append(start_server(args, cwd=tmp_path, **variables))
        return started[-1]

    yield start
    for server in started:
        server.stop(signal.SIGKILL)
