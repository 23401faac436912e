"""Benchmark: what the zoo's mutants need of the generated layers' budgets, and requests per kill.

Usage: ``python benchmarks/budget.py [--property-examples N] [--stateful-examples N]
[--stateful-steps N] [--schemathesis-examples N] [--jobs 2] [--mutant NAME ...]``

Serves the zoo (``python -m tests.zoo``, 127.0.0.1, a free port) and runs the default profile,
with the budgets given replacing its own, against every mutant (``--jobs`` at a time, each on its
own variant and store). A mutant is killed when the rule it ``breaks`` is reported failed. Prints
per mutant: killed or not, the test that first failed, and the requests sent until then (the
run's tests in run order, from the JUnit XML, each with its count from the JSON report's
``traffic.tests``, up to and including the first failed test); then the kills, and the requests
of a run against the correct variant. Figures: docs/speed.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance._boot import ServerProcess  # noqa: E402
from tests.zoo.__main__ import SERVED  # noqa: E402

RUNNER = """
import dataclasses, sys
import pytest
from conformance._profiles import PROFILES
PROFILES["default"] = dataclasses.replace(PROFILES["default"], **{overrides!r})
sys.exit(pytest.main(sys.argv[1:]))
"""


def run(url: str, overrides: dict[str, int], workdir: Path) -> dict[str, object]:
    report, junit = workdir / "report.json", workdir / "junit.xml"
    command = [sys.executable, "-c", RUNNER.format(overrides=overrides), "--pyargs",
               "conformance", "-q", "-p", "no:cacheprovider", "--base-url", url,
               "-W", "ignore::pytest.PytestAssertRewriteWarning",
               f"--conformance-report-json={report}", f"--junitxml={junit}",
               f"--conformance-repro-dir={workdir / 'repro'}"]  # fmt: skip
    subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    data = json.loads(report.read_text())
    failed = {r["id"] for r in data["requirements"] if r["outcome"] == "failed"}
    counts = {node: test["requests"] for node, test in data["traffic"]["tests"].items()}
    first = (data.get("first_failed_test") or {}).get("test")
    sent, until = 0, None
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = (case.get("classname") or "").replace(".", "/")
        node = next((n for n in counts if n.endswith(f"::{case.get('name')}")
                     and module.endswith(n.split("::")[0].removesuffix(".py"))), None)  # fmt: skip
        sent += counts.get(node or "", 0)
        if first is not None and node == first:
            until = sent
            break
    return {"failed": failed, "first": first, "until": until,
            "requests": data["traffic"]["requests"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("property_examples", "stateful_examples", "stateful_steps",
                 "schemathesis_examples"):  # fmt: skip
        parser.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--mutant", action="append", help="only these mutants (repeatable)")
    args = parser.parse_args()
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("jobs", "mutant") and v is not None}  # fmt: skip
    mutants = [m for m in SERVED if not args.mutant or m.name in args.mutant]
    command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
    print(f"budgets: default profile with {overrides or 'no change'}", flush=True)
    with ServerProcess(command, ROOT, ready_path="/correct/books") as zoo:

        def judge(name: str) -> dict[str, object]:
            with tempfile.TemporaryDirectory() as workdir:
                return run(f"{zoo.url}/{name}", overrides, Path(workdir))

        with ThreadPoolExecutor(args.jobs) as pool:
            correct = pool.submit(judge, "correct")
            outcomes = list(pool.map(judge, [m.name for m in mutants]))
        kills = 0
        for mutant, outcome in zip(mutants, outcomes, strict=True):
            failed: set[str] = outcome["failed"]  # type: ignore[assignment]
            killed = bool(failed & set(mutant.requirements)) or ("*" in mutant.also and failed)
            kills += killed
            print(f"{mutant.name:<34} {mutant.breaks:<18} {'killed' if killed else 'MISSED':<7}"
                  f"{outcome['until'] or '-':>6} requests until "
                  f"{str(outcome['first']).split('conformance/')[-1]}", flush=True)  # fmt: skip
        clean = correct.result()
        wrong = sorted(clean["failed"])  # type: ignore[call-overload]
        print(f"kills: {kills}/{len(mutants)}; the correct variant: failed {wrong}, "
              f"{clean['requests']} requests", flush=True)  # fmt: skip
    return 0 if kills == len(mutants) else 1


if __name__ == "__main__":
    raise SystemExit(main())
