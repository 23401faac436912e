"""Self-check: the conformance suite passes the zoo's correct implementation and catches every
mutant under the rule it breaks, blaming nothing else. Writes the kill matrix (mutant x layer,
the other rules reported failed, the requests it took) to reports/kill-matrix.{json,md,html}.

Each mutant gets one whole run of the suite, as an implementer would run it, so the matrix shows
which layers catch which bug and *blame precision*: every other MUST rule reported failed must be
one the mutant genuinely breaks (listed in its ``also``, with the reason in its docstring). The
first failed test of the run is where ``-x`` stops: it must fail the mutant's own rule. The zoo
serves every variant from one process, and the runs go in parallel (``SELFCHECK_JOBS``, default:
the CPU count). A race mutant missed by its run is run again, up to its ``attempts``
(docs/race-rates.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conformance._boot import ServerProcess
from conformance._matrix import write_matrix_html
from conformance._registry import load_registry
from tests.zoo.__main__ import SERVED as MUTANTS
from tests.zoo.mutants import Mutant

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
LAYERS = ("examples", "properties", "state machine", "schemathesis", "concurrency")
# SHOULD rules the correct implementation fails on purpose (it takes the other branches).
CORRECT_BASELINE = {"CREATE-LOCATION", "INVALID-422", "ERROR-PROBLEM"}


@pytest.fixture(scope="module")
def zoo() -> Iterator[str]:
    command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
    with ServerProcess(command, ROOT, ready_path="/correct/books") as server:
        yield server.url


def run_suite(url: str, report: Path, *args: str) -> tuple[int, dict[str, Any]]:
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q",
               "-p", "no:cacheprovider", "--base-url", url,
               "--conformance-report-json", str(report), *args]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFORMANCE_")}
    result = subprocess.run(
        command, cwd=report.parent, env=env, capture_output=True, text=True, timeout=900
    )
    if not report.exists():
        pytest.fail(f"no report from {' '.join(command)}:\n{result.stdout[-3000:]}{result.stderr}")
    return result.returncode, json.loads(report.read_text())


def failed_ids(report: dict[str, Any]) -> dict[str, list[str]]:
    """Every requirement reported failed (expected or not), with the layers that caught it."""
    return {
        item["id"]: item["caught_by"]
        for item in report["requirements"]
        if item["outcome"] in ("failed", "expected-failure")
    }


def test_correct_implementation_passes(zoo: str, tmp_path: Path) -> None:
    code, report = run_suite(f"{zoo}/correct", tmp_path / "correct.json")
    failed = failed_ids(report)
    assert code == 0, f"the suite fails a correct implementation: {failed}"
    assert set(failed) == CORRECT_BASELINE, failed
    assert report["hygiene"]["leftovers"] == []


def judge(zoo: str, mutant: Mutant, workdir: Path) -> dict[str, Any]:
    """One suite run for the mutant's rule; a race mutant (``attempts`` > 1) that this run missed
    is run again, up to ``attempts`` runs in all (P(all miss) < 1e-6, docs/race-rates.md): the
    row keeps the run that caught it and how many runs that took."""
    for run in range(1, mutant.attempts + 1):
        row = judge_once(zoo, mutant, workdir / f"{mutant.name}-{run}")
        row["runs"] = run
        if row["caught"]:
            break
    return row


def judge_once(zoo: str, mutant: Mutant, workdir: Path) -> dict[str, Any]:
    workdir.mkdir()
    code, report = run_suite(f"{zoo}/{mutant.name}", workdir / "report.json")
    failed = failed_ids(report)
    registry = load_registry()
    musts = [rid for rid in failed if registry[rid].gating and rid != mutant.breaks]
    first = report["first_failed_test"] or {}
    return {
        "mutant": mutant.name,
        "breaks": mutant.breaks,
        "description": mutant.description,
        "exit_code": code,
        "caught": mutant.breaks in failed,
        "caught_by": failed.get(mutant.breaks, []),
        "only": mutant.only,
        "failed": sorted(failed),
        "also_failed": sorted(musts),  # other MUST rules reported failed
        "unexplained": [] if "*" in mutant.also else sorted(set(musts) - set(mutant.also)),
        "x_stops_at": first.get("test"),
        "x_stops_on": first.get("requirements", []),
        "requests_to_kill": first.get("requests_sent_by_then"),
        "requests": report["traffic"]["requests"],
        "report": str(workdir / "report.json"),
    }


def mark(row: dict[str, Any], layer: str) -> str:
    if layer not in row["caught_by"]:
        return ""
    return "✔ only" if row["only"] == layer else "✔"


def write_matrix(rows: list[dict[str, Any]]) -> None:
    registry = load_registry()
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "kill-matrix.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        "| Mutant | Breaks | Level | " + " | ".join(LAYERS)
        + " | Other MUST rules failed | `-x` stops on | Requests to the kill |",
        "|---|---|---|" + "---|" * len(LAYERS) + "---|---|---|",
    ]  # fmt: skip
    for row in rows:
        marks = " | ".join(mark(row, layer) for layer in LAYERS)
        others = ", ".join(row["also_failed"]) or "none"
        level = registry[row["breaks"]].level
        runs = f" ({row['runs']} runs)" if row["runs"] > 1 else ""
        stops = ", ".join(row["x_stops_on"]) or "(no failed test)"
        lines.append(
            f"| `{row['mutant']}`{runs} | {row['breaks']} | {level} | {marks} | {others} | "
            f"{stops} | {row['requests_to_kill'] or '-'} |"
        )
    caught = sum(row["caught"] for row in rows)
    collateral = sum(len(row["also_failed"]) for row in rows)
    unexplained = sum(len(row["unexplained"]) for row in rows)
    gating = [row for row in rows if registry[row["breaks"]].gating]
    on_own = sum(row["breaks"] in row["x_stops_on"] for row in gating)
    kills = sorted(row["requests_to_kill"] for row in rows if row["requests_to_kill"])
    lines += [
        "",
        f"{caught}/{len(rows)} mutants caught under the rule they break.",
        f"Blame precision: {collateral} other MUST rule(s) reported failed across all mutants, "
        f"{unexplained} of them not a rule the mutant genuinely breaks (each such rule is in the "
        "mutant's `also`, with the reason in its docstring).",
        f"`-x` stops on a test that fails the mutant's own rule for {on_own}/{len(gating)} "
        "mutants that break a MUST rule (a SHOULD or MAY failure is an xfail: `-x` runs on).",
    ]
    if kills:
        median = kills[len(kills) // 2]
        lines.append(f"Requests sent until the first failure: median {median}, most {kills[-1]}.")
    retried = [f"{row['mutant']} ({row['runs']})" for row in rows if row["runs"] > 1]
    if retried:  # races: the burst did not overlap at the server on the first run(s)
        lines.append(f"Runs it took to see a race: {', '.join(retried)}; every other mutant: 1.")
    (REPORTS / "kill-matrix.md").write_text("\n".join(lines) + "\n")
    write_matrix_html(
        [Path(row["report"]) for row in rows],
        [row["mutant"] for row in rows],
        REPORTS / "kill-matrix.html",
    )


def test_every_mutant_is_caught_for_the_rule_it_breaks(zoo: str, tmp_path: Path) -> None:
    jobs = int(os.environ.get("SELFCHECK_JOBS", os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(lambda m: judge(zoo, m, tmp_path), MUTANTS))
    write_matrix(rows)
    registry = load_registry()
    survivors = [row["mutant"] for row in rows if not row["caught"]]
    assert not survivors, f"mutants no test catches under their rule: {survivors}"
    lenient = [
        row["mutant"] for row in rows if registry[row["breaks"]].gating and row["exit_code"] == 0
    ]
    assert not lenient, f"MUST-breaking mutants that still pass the run: {lenient}"
    # Each generated layer earns its keep: a bug that it, and no other layer, catches.
    shared = {row["mutant"]: row["caught_by"] for row in rows if row["only"] and
              row["caught_by"] != [row["only"]]}  # fmt: skip
    assert not shared, f"mutants meant for one layer but caught by {shared}"
    # Blame precision: no MUST rule the mutant does not break is reported failed.
    imprecise = {row["mutant"]: row["unexplained"] for row in rows if row["unexplained"]}
    assert not imprecise, f"mutants blamed for rules they do not break: {imprecise}"
    # -x stops at the root cause: the first failed test fails the mutant's own rule.
    elsewhere = {
        row["mutant"]: (row["x_stops_at"], row["x_stops_on"])
        for row in rows
        if registry[row["breaks"]].gating and row["breaks"] not in row["x_stops_on"]
    }
    assert not elsewhere, f"-x would stop on another rule: {elsewhere}"


def test_every_generated_layer_has_a_bug_only_it_catches() -> None:
    exclusive = {m.only for m in MUTANTS if m.only}
    assert exclusive >= set(LAYERS) - {"examples"}, sorted(exclusive)
    assert exclusive <= set(LAYERS), sorted(exclusive)


def test_a_missed_race_is_run_again_up_to_its_attempts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The re-run logic of ``judge``, without a suite run: a race mutant gets up to ``attempts``
    runs and stops at the first that catches it; any other mutant gets one."""
    runs: list[str] = []
    caught = iter([False, False, True, False])

    def judge_once(zoo: str, mutant: Mutant, workdir: Path) -> dict[str, Any]:
        runs.append(workdir.name)
        return {"caught": next(caught)}

    monkeypatch.setattr(sys.modules[__name__], "judge_once", judge_once)
    race = next(m for m in MUTANTS if m.needs_server)
    assert race.attempts == 3
    assert judge("http://zoo.test", race, tmp_path) == {"caught": True, "runs": 3}
    assert runs == [f"{race.name}-1", f"{race.name}-2", f"{race.name}-3"]
    plain = next(m for m in MUTANTS if not m.needs_server)
    assert judge("http://zoo.test", plain, tmp_path) == {"caught": False, "runs": 1}


@pytest.mark.parametrize("name", ["delete-keeps-in-list", "not-found-html", "oversize-500"])
def test_x_stops_where_the_whole_run_first_failed(zoo: str, tmp_path: Path, name: str) -> None:
    """The matrix reads where ``-x`` stops off a whole run (its first failed test); a real ``-x``
    run on a few mutants stops on that same test, failing the mutant's own rule."""
    mutant = next(m for m in MUTANTS if m.name == name)
    code, report = run_suite(f"{zoo}/{name}", tmp_path / "x.json", "-x")
    assert code == 1
    first = report["first_failed_test"]
    assert mutant.breaks in first["requirements"], first
    _, whole = run_suite(f"{zoo}/{name}", tmp_path / "whole.json")
    assert whole["first_failed_test"]["test"] == first["test"]
