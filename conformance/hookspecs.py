"""Hooks the conformance plugin adds to pytest (implement them in a conftest.py or plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conformance._report import ConformanceReport


@pytest.hookspec(firstresult=True)
def pytest_conformance_target(config: pytest.Config) -> str | None:
    """Return the base URL of the implementation under test, or None to keep the default.

    The default is ``--base-url`` (or the ``base_url`` ini value); with neither, the plugin boots
    the reference app. Example, pointing the kit at a server a fixture already runs::

        def pytest_conformance_target(config):
            return os.environ.get("MY_SERVER_URL")
    """


def pytest_conformance_report(config: pytest.Config, report: ConformanceReport) -> None:
    """Called once at the end of a run with the per-requirement verdicts.

    Example, failing a CI job on any SHOULD failure without strict mode::

        def pytest_conformance_report(config, report):
            if report.failed("SHOULD"):
                print("SHOULD failures:", report.failed("SHOULD"))
    """
