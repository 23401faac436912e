"""What the browser tests and ``python -m tests.browser.screenshots`` share: the zoo's reports
(quick profile) and a headless Chromium from Debian's ``chromium`` package driven by Playwright.

Example::

    with zoo() as url:
        produce(url, REPORTS, {"zoo-correct": ("correct", [])})
    with chromium() as context:
        context.new_page().goto((REPORTS / "zoo-correct.html").as_uri())
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, sync_playwright

from conformance._boot import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
SCREENSHOTS = REPORTS / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: The runs the browser tests look at: name -> (zoo variant, extra pytest arguments).
RUNS: dict[str, tuple[str, list[str]]] = {
    "zoo-correct": ("correct", []),  # the whole suite: a passing run (SHOULD failures reported)
    "zoo-create-200": ("create-200", []),  # POST answers 200: a root cause that blocks the rest
    "zoo-not-found-html": ("not-found-html", ["--conformance-requirement", "ERROR-JSON"]),
}


class NoBrowser(RuntimeError):
    """Chromium is not installed where the tests look for it."""


@contextmanager
def zoo() -> Iterator[str]:
    """The zoo (every variant under ``/<name>``) on a free port; yields its URL."""
    command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
    with ServerProcess(command, ROOT, ready_path="/correct/books") as server:
        yield server.url


def run_suite(url: str, stem: Path, args: Sequence[str] = ()) -> dict[str, Any]:
    """Run the conformance suite (quick profile) against ``url``; write ``stem``.json and
    ``stem``.html beside each other (the matrix links one to the other) and return the JSON."""
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q",
               "-p", "no:cacheprovider", "--base-url", url, "--conformance-profile", "quick",
               "--conformance-report-json", f"{stem}.json",
               "--conformance-report-html", f"{stem}.html", *args]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    stem.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    report = Path(f"{stem}.json")
    if not report.exists() or not Path(f"{stem}.html").exists():
        raise RuntimeError(f"no report from {' '.join(command)}:\n{result.stdout[-3000:]}")
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


def produce(
    url: str, out: Path, runs: Mapping[str, tuple[str, list[str]]] = RUNS
) -> dict[str, dict[str, Any]]:
    """The reports of ``runs`` against the zoo at ``url``, written to ``out``, run in parallel."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {
            name: pool.submit(run_suite, f"{url}/{variant}", out / name, args)
            for name, (variant, args) in runs.items()
        }
        return {name: future.result() for name, future in futures.items()}


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[BrowserContext]:
    """A headless Chromium with a new empty profile (Debian's package; never a download)."""
    if not CHROMIUM.exists():
        raise NoBrowser(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
            "or point CHROMIUM at the binary"
        )
    with (
        tempfile.TemporaryDirectory(prefix="conformance-chromium-") as profile,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": width, "height": height},
            offline=True,
        )
        try:
            yield context
        finally:
            context.close()
