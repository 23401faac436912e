"""tools.verdicts: the cross-backend verdict diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def report(path: Path, outcomes: dict[str, str]) -> str:
    items = [{"id": rid, "outcome": outcome} for rid, outcome in outcomes.items()]
    path.write_text(json.dumps({"requirements": items}))
    return str(path)


def verdicts(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.verdicts", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_agreeing_reports_pass(tmp_path: Path) -> None:
    same = {"CREATE-OK": "passed", "CREATE-LOCATION": "failed"}
    result = verdicts(report(tmp_path / "sqlite.json", same), report(tmp_path / "pg.json", same))
    assert result.returncode == 0, result.stderr
    assert "all 2 verdicts agree across sqlite, pg" in result.stdout


def test_a_backend_dependent_verdict_fails(tmp_path: Path) -> None:
    a = report(tmp_path / "sqlite.json", {"CREATE-OK": "passed", "VAL-TEXT": "passed"})
    b = report(tmp_path / "postgres.json", {"CREATE-OK": "passed", "VAL-TEXT": "failed"})
    result = verdicts(a, b)
    assert result.returncode == 1
    assert "VAL-TEXT            passed            failed" in result.stdout
    assert "verdicts depend on the backend for: VAL-TEXT" in result.stderr


def test_a_missing_requirement_counts_as_a_difference(tmp_path: Path) -> None:
    a = report(tmp_path / "a.json", {"CREATE-OK": "passed"})
    b = report(tmp_path / "b.json", {})
    assert verdicts(a, b).returncode == 1


def test_bad_input_gets_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = verdicts(str(bad), str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert "is not a conformance JSON report" in result.stderr
    assert "Traceback" not in result.stderr
    result = verdicts(str(tmp_path / "absent.json"), str(bad))
    assert "absent.json does not exist" in result.stderr
    assert verdicts().returncode == 2


def test_a_missing_report_names_the_env_that_did_not_write_it(tmp_path: Path) -> None:
    present = report(tmp_path / "postgres.json", {"CREATE-OK": "passed"})
    absent = tmp_path / "reports" / "sqlite.json"
    result = verdicts(str(absent), present)
    assert result.returncode == 2
    assert (
        f"{absent} does not exist: the tox env 'sqlite' did not finish writing it; "
        "see its output above (or run it: tox -e sqlite)"
    ) in result.stderr
    assert "Traceback" not in result.stderr
