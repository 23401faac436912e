"""Benchmark: wall time of the conformance suite against the local reference app.

Usage: ``python benchmarks/suite_time.py [--profile default] [--backend sqlite|postgres|both]``

Boots the reference app (SQLite in a temp dir; Postgres via tools.pgtemp, or DATABASE_URL), runs
``pytest --pyargs conformance`` against it once per backend, and prints one line per backend:
backend, profile, wall seconds, tests passed. Target: the default profile under 15 s on SQLite.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance._boot import reference_app_process  # noqa: E402
from tools.pgtemp import PostgresServer  # noqa: E402


def run(url: str, profile: str) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q",
               "-p", "no:cacheprovider", "--base-url", url,
               "--conformance-profile", profile]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    summary = re.findall(r"^=* ?(\d+ passed.*?) ?=*$", result.stdout, re.MULTILINE)
    return elapsed, summary[-1] if summary else f"exit {result.returncode}"


def measure(backend: str, database_url: str | None, profile: str) -> None:
    with (
        tempfile.TemporaryDirectory() as workdir,
        reference_app_process(Path(workdir), database_url) as app,
    ):
        elapsed, summary = run(app.url, profile)
    print(f"{backend:<9} profile={profile:<9} {elapsed:6.1f} s   {summary}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="default", choices=["quick", "default", "thorough"])
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        measure("sqlite", None, args.profile)
    if args.backend in ("postgres", "both"):
        if os.environ.get("DATABASE_URL"):
            measure("postgres", os.environ["DATABASE_URL"], args.profile)
        else:
            with PostgresServer() as server:
                measure("postgres", server.url, args.profile)


if __name__ == "__main__":
    main()
