"""Benchmark: what a user waits for against a far target — wall time of the conformance suite
through a delay proxy at several round-trip times.

Usage: ``python benchmarks/far_target.py [--rtt 0,10,20,50] [--target zoo,reference]
[--profile default] [--concurrency N] [--repeat 1]``

Per target and RTT it starts a fresh target (the reference app on a new SQLite file, or the zoo
with its ``/correct`` variant), puts ``benchmarks/delay_proxy.py`` in front of it (RTT/2 each
way, 127.0.0.1; none at 0 ms), runs ``pytest --pyargs conformance`` once (one process) and prints:
wall seconds (pytest start to exit), requests sent, the outcome, the 1-minute load average before
the run, and per layer the test time summed, the longest test and its request count (the
critical path: a layer cannot finish sooner than its longest test).
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance._boot import ServerProcess, reference_app_process  # noqa: E402
from conformance.plugin import LAYERS  # noqa: E402


@contextmanager
def target(kind: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """A fresh target: (host:port, path prefix of the API)."""
    if kind == "reference":
        server = reference_app_process(workdir)
        prefix = ""
    else:
        command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
        server = ServerProcess(command, ROOT, ready_path="/correct/books")
        prefix = "/correct"
    with server:
        yield server.url.removeprefix("http://"), prefix


@contextmanager
def proxy(address: str, rtt_ms: float, prefix: str) -> Iterator[str]:
    if rtt_ms <= 0:
        yield f"http://{address}"
        return
    command = [sys.executable, str(ROOT / "benchmarks" / "delay_proxy.py"),
               "--target", address, "--delay-ms", str(rtt_ms / 2)]  # fmt: skip
    with ServerProcess(command, ROOT, ready_path=prefix + "/books") as server:
        yield server.url


def run(url: str, profile: str, concurrency: int | None, workdir: Path, workers: int = 0) -> str:
    report, junit = workdir / "report.json", workdir / "junit.xml"
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q",
               "-p", "no:cacheprovider", "--base-url", url, "--conformance-profile", profile,
               "--conformance-report-json", str(report), "--junitxml", str(junit),
               f"--conformance-repro-dir={workdir / 'repro'}"]  # fmt: skip
    if concurrency is not None:
        command.append(f"--conformance-concurrency={concurrency}")
    if workers:  # pytest-xdist: one module (a layer, or an example module) per worker at a time
        command += ["-n", str(workers), "--dist", "loadscope"]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    summary = re.findall(r"^=* ?(\d+ (?:passed|failed).*?) ?=*$", result.stdout, re.MULTILINE)
    outcome = summary[-1] if summary else f"exit {result.returncode}"
    requests: dict[str, int] = {}
    total = 0
    if report.exists():
        traffic = json.loads(report.read_text())["traffic"]
        total = traffic["requests"]
        requests = {nodeid: test["requests"] for nodeid, test in traffic["tests"].items()}
    layers: dict[str, list[tuple[float, str]]] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            module = (case.get("classname") or "?").split(".")
            stem = next((part for part in module if part.startswith("test_")), module[-1])
            nodeid = f"{case.get('classname')}::{case.get('name')}"
            layers.setdefault(LAYERS.get(stem, stem), []).append(
                (float(case.get("time") or 0), nodeid)
            )
    lines = [f"{elapsed:6.1f} s  {total} requests  {outcome}  (load {load:.1f} before)"]
    for layer, cases in sorted(layers.items(), key=lambda item: -sum(t for t, _ in item[1])):
        longest, nodeid = max(cases)
        name = nodeid.rsplit("::", 1)[-1]
        sent = next((n for node, n in requests.items() if node.endswith("::" + name)), "?")
        lines.append(f"          {layer:<13} {sum(t for t, _ in cases):5.1f} s in all; longest "
                     f"{longest:4.1f} s {name[:48]} ({sent} requests)")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtt", default="0,10,20,50", help="RTTs in ms, comma-separated")
    parser.add_argument("--target", default="zoo,reference", help="zoo and/or reference")
    parser.add_argument("--profile", default="default", choices=["quick", "default", "thorough"])
    parser.add_argument("--concurrency", type=int, default=None, help="--conformance-concurrency")
    parser.add_argument("--repeat", type=int, default=1, help="runs per target and RTT")
    parser.add_argument("--workers", type=int, default=0, help="pytest-xdist workers (0: none)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; profile {args.profile}", flush=True)
    for kind in args.target.split(","):
        for rtt in (float(value) for value in args.rtt.split(",")):
            for _ in range(args.repeat):
                with ExitStack() as stack:
                    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                    address, prefix = stack.enter_context(target(kind, workdir))
                    url = stack.enter_context(proxy(address, rtt, prefix)) + prefix
                    line = run(url, args.profile, args.concurrency, workdir, args.workers)
                print(f"{kind:<9} RTT {rtt:4.0f} ms: {line}", flush=True)


if __name__ == "__main__":
    main()
