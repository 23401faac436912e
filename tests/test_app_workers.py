"""``python -m reference_app --workers 4`` on one database passes the conformance suite."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_app_server import Server, clean_environment, start_server

CONFORMANCE_TIMEOUT_S = 300


@pytest.fixture
def workers(backend: str, tmp_path: Path) -> Iterator[Server]:
    """The app served by 4 worker processes on the test's database; killed after the test."""
    server = start_server(["--port", "0", "--database-url", backend, "--workers", "4"], tmp_path)
    yield server
    server.stop(signal.SIGKILL)


def test_four_workers_pass_the_conformance_suite(workers: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance",
            "--base-url",
            workers.url,
            "-q",
            "-p",
            "no:cacheprovider",
            "--conformance-profile",
            "quick",
        ],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=CONFORMANCE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert workers.stop() == 0
    assert not any("Traceback" in line for line in workers.stderr), workers.stderr
