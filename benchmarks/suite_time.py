"""Benchmark: wall time of the conformance suite against the local reference app.

Usage: ``python benchmarks/suite_time.py [--profile default] [--backend sqlite|postgres|both]``

Boots the reference app (SQLite in a temp dir; Postgres via tools.pgtemp, or DATABASE_URL), runs
``pytest --pyargs conformance`` against it once per backend, and prints per backend: wall seconds
(pytest start to exit), requests sent, tests passed, seconds per test module (layer), and the
1-minute load average before the run (figures taken on a busy machine are not comparable).
``--workers N`` runs the suite with pytest-xdist. Target: the default profile under 15 s on
SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance._boot import reference_app_process  # noqa: E402
from tools.pgtemp import PostgresServer  # noqa: E402


def run(url: str, profile: str, workers: int, workdir: Path) -> str:
    report, junit = workdir / "report.json", workdir / "junit.xml"
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q",
               "-p", "no:cacheprovider", "--base-url", url, "--conformance-profile", profile,
               "--conformance-report-json", str(report), "--junitxml", str(junit),
               *(["-n", str(workers)] if workers > 1 else [])]  # fmt: skip
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    summary = re.findall(r"^=* ?(\d+ passed.*?) ?=*$", result.stdout, re.MULTILINE)
    requests = json.loads(report.read_text())["traffic"]["requests"] if report.exists() else 0
    layers: dict[str, float] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = (case.get("classname") or "?").rsplit(".", 1)[-1]
            layers[module] = layers.get(module, 0.0) + float(case.get("time") or 0)
    by_layer = ", ".join(f"{name.removeprefix('test_')} {secs:.1f}" for name, secs in
                         sorted(layers.items(), key=lambda item: -item[1]))  # fmt: skip
    outcome = summary[-1] if summary else f"exit {result.returncode}"
    return (f"{elapsed:6.1f} s  {requests} requests  {outcome}  (load {load:.1f} before)\n"
            f"          per module, s: {by_layer}")  # fmt: skip


def measure(backend: str, database_url: str | None, profile: str, workers: int) -> None:
    with (
        tempfile.TemporaryDirectory() as workdir,
        reference_app_process(Path(workdir), database_url) as app,
    ):
        line = run(app.url, profile, workers, Path(workdir))
    print(f"{backend:<9} profile={profile} workers={workers}: {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default", choices=["quick", "default", "thorough"])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--workers", type=int, default=1, help="pytest-xdist workers (default 1)")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        measure("sqlite", None, args.profile, args.workers)
    if args.backend in ("postgres", "both"):
        if os.environ.get("DATABASE_URL"):
            measure("postgres", os.environ["DATABASE_URL"], args.profile, args.workers)
        else:
            with PostgresServer() as server:
                measure("postgres", server.url, args.profile, args.workers)


if __name__ == "__main__":
    main()
