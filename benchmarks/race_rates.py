"""Benchmark: how often each race mutant of the zoo shows its bug on one run of its probe.

Usage: ``python benchmarks/race_rates.py [--runs 200] [--burners 2] [--budget 600]``

Serves the zoo (``python -m tests.zoo`` on 127.0.0.1, a free port), optionally starts
``--burners`` CPU-burning processes beside it, then runs each ``needs_server`` mutant's probe
``--runs`` times (and the correct variant's as often: it must pass every time) and prints per
mutant: runs, hits (runs whose probe failed, i.e. the bug showed), misses, the one-sided 95% upper
bound on the miss rate (Clopper-Pearson; 1 - 0.05^(1/runs) with no miss), the N that bound gives
for P(all N runs miss) < 1e-6, i.e. ``N = ceil(log(1e-6) / log(bound))``, the mutant's
``attempts`` and seconds per run. Stops early, with the figures so far, after ``--budget``
seconds. The burners and the zoo are stopped on exit. Figures: docs/race-rates.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.zoo.mutants import MUTANTS, Mutant  # noqa: E402

READY = re.compile(r"zoo: serving \d+ variants on (http://127\.0\.0\.1:\d+)")
TARGET = 1e-6  # P(every attempt misses) a check may have
BURN = "while True: pass"


def miss_bound(misses: int, runs: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a miss probability (Clopper-Pearson, by bisection)."""
    if misses >= runs:
        return 1.0
    alpha = 1 - confidence

    def at_most(p: float) -> float:  # P(X <= misses) for X ~ Binomial(runs, p)
        return sum(math.comb(runs, k) * p**k * (1 - p) ** (runs - k) for k in range(misses + 1))

    low, high = misses / runs, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if at_most(middle) > alpha else (low, middle)
    return high


def attempts_for(bound: float) -> int:
    """The fewest runs N with bound**N < TARGET."""
    if bound >= 1:
        return -1  # no finite N
    if bound <= 0:
        return 1
    return max(1, math.floor(math.log(TARGET) / math.log(bound)) + 1)


async def shows(base_url: str, mutant: Mutant) -> bool:
    """One run of the probe: did the bug show (the probe failed)?"""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        try:
            await mutant.probe(client)
        except AssertionError:
            return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="probe runs per mutant")
    parser.add_argument("--burners", type=int, default=0, help="CPU-burning processes beside")
    parser.add_argument("--budget", type=float, default=600, help="seconds before stopping early")
    parser.add_argument("--mutant", action="append", help="only these (repeatable)")
    args = parser.parse_args()
    races = [m for m in MUTANTS if m.needs_server and (not args.mutant or m.name in args.mutant)]
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(args.burners)]
    zoo = subprocess.Popen(
        [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert zoo.stdout is not None
        match = READY.fullmatch(zoo.stdout.readline().strip())
        assert match, "the zoo did not announce itself"
        url = match[1]
        deadline = time.monotonic() + args.budget
        print(f"cpus {os.cpu_count()}, burners {args.burners}, load {os.getloadavg()[0]:.1f}")
        print("mutant            runs  hits  misses  miss<=(95%)  N  attempts  s/run  correct")
        for mutant in races:
            hits = runs = correct_failures = 0
            started = time.perf_counter()
            while runs < args.runs and time.monotonic() < deadline:
                hits += asyncio.run(shows(f"{url}/{mutant.name}", mutant))
                correct_failures += asyncio.run(shows(f"{url}/correct", mutant))
                runs += 1
            per_run = (time.perf_counter() - started) / max(runs, 1) / 2
            bound = miss_bound(runs - hits, runs) if runs else 1.0
            print(f"{mutant.name:<17} {runs:>4}  {hits:>4}  {runs - hits:>6}  {bound:>11.4f}  "
                  f"{attempts_for(bound):>1}  {mutant.attempts:>8}  {per_run:>5.2f}  "
                  f"{'ok' if not correct_failures else f'FAILED {correct_failures}x'}")  # fmt: skip
        print(f"load at the end {os.getloadavg()[0]:.1f}")
    finally:
        processes: list[subprocess.Popen[Any]] = [zoo, *burners]
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
