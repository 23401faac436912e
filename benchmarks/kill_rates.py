"""Benchmark: kill rates of the zoo's history-only race mutants, false failures of correct
implementations, and the concurrency layer's cost.

Usage: ``python benchmarks/kill_rates.py [--runs 20] [--correct-runs 50] [--reference URL]``

Serves the zoo (``python -m tests.zoo``, 127.0.0.1, a free port) and runs the concurrency layer
(``pytest conformance -k test_concurrency --base-url URL``, default profile) ``--runs`` times per
mutant of ``tests/zoo/race_mutants.py`` (a kill: one of the rules the mutant may be blamed under
failed), and ``--correct-runs`` times against the zoo's correct variant and, with
``--reference URL``, a running reference app (any failure or inconclusive verdict counts).
Prints per target: runs, kills/failures, inconclusive runs, and the layer's cost (the sum of its
test cases' times, median and max). Figures: docs/kill-matrix-races.md.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.zoo.race_mutants import RACE_MUTANTS  # noqa: E402

READY = re.compile(r"zoo: serving \d+ variants on (http://127\.0\.0\.1:\d+)")


def run_layer(url: str, workdir: Path) -> tuple[set[str], bool, float]:
    """One run of the concurrency layer: the rules that failed, whether a verdict was
    inconclusive, and the seconds its test cases took."""
    report, junit = workdir / "report.json", workdir / "junit.xml"
    command = [sys.executable, "-m", "pytest", "conformance", "-k", "test_concurrency", "-q",
               "-p", "no:cacheprovider", "--base-url", url, f"--junitxml={junit}",
               f"--conformance-report-json={report}",
               f"--conformance-repro-dir={workdir}"]  # fmt: skip
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    data = json.loads(report.read_text())
    failed = {r["id"] for r in data["requirements"] if r["outcome"] == "failed"}
    cases = ET.parse(junit).getroot().iter("testcase")
    return failed, "inconclusive" in output.stdout, sum(float(c.get("time", 0)) for c in cases)


def row(name: str, runs: int, hits: int, inconclusive: int, costs: list[float]) -> str:
    return (f"{name:<24} {runs:>4}  {hits:>6}  {inconclusive:>12}  "
            f"{statistics.median(costs):>8.2f}  {max(costs):>6.2f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per mutant")
    parser.add_argument("--correct-runs", type=int, default=50, help="runs per correct target")
    parser.add_argument("--reference", metavar="URL", help="a running reference app to judge too")
    parser.add_argument("--mutant", action="append", help="only these mutants (repeatable)")
    args = parser.parse_args()
    zoo = subprocess.Popen([sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port",
                            "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert zoo.stdout is not None
        match = READY.fullmatch(zoo.stdout.readline().strip())
        assert match, "the zoo did not announce itself"
        url = match[1]
        print("target                   runs  killed  inconclusive  cost med  max (s)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            for mutant in RACE_MUTANTS:
                if args.mutant and mutant.name not in args.mutant:
                    continue
                hits = vague = 0
                costs = []
                for _ in range(args.runs):
                    failed, inconclusive, cost = run_layer(f"{url}/{mutant.name}", Path(tmp))
                    hits += bool(failed & set(mutant.requirements))
                    vague += inconclusive
                    costs.append(cost)
                print(row(mutant.name, args.runs, hits, vague, costs), flush=True)
            targets = [("zoo correct", f"{url}/correct")]
            if args.reference:
                targets.append(("reference app", args.reference))
            for name, target in targets:
                fails = vague = 0
                costs = []
                for _ in range(args.correct_runs):
                    failed, inconclusive, cost = run_layer(target, Path(tmp))
                    fails += bool(failed)
                    vague += inconclusive
                    costs.append(cost)
                print(row(name, args.correct_runs, fails, vague, costs) + "  (failed, not killed)",
                      flush=True)  # fmt: skip
    finally:
        zoo.terminate()
        zoo.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
