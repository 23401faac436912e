"""The GitHub workflows: the fork workflow's own commands run locally, with the zoo's correct
implementation standing in for the fork's server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance._boot import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
FORK_WORKFLOW = ROOT / "docs" / "fork-workflow.yml"
BROKEN = "id-reuse-after-delete"  # a zoo mutant that breaks ID-UNIQUE


def steps() -> dict[str, dict[str, Any]]:
    workflow = yaml.safe_load(FORK_WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    return {step["id"]: step for step in job["steps"] if "id" in step}


@pytest.fixture(scope="module")
def zoo() -> Iterator[str]:
    """The zoo: ``/correct`` (no Location header, 400s, plain JSON errors) and the mutants."""
    command = [sys.executable, "-m", "tests.zoo", "--port", "0"]
    with ServerProcess(command, ROOT, ready_path="/correct/books") as server:
        yield server.url


def run_step(step: dict[str, Any], workdir: Path, env: dict[str, str]) -> int:
    """Run one step's shell, with this interpreter's environment first on PATH (as after the
    workflow's install step)."""
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=workdir, env=env, check=False, timeout=600
    )
    return result.returncode


def test_fork_workflow_steps_gate_a_fork_locally(zoo: str, tmp_path: Path) -> None:
    """Run the workflow's own commands: conformance, then the summary step."""
    summary = tmp_path / "step-summary.md"
    env = {**os.environ, "BOOKS_URL": f"{zoo}/correct", "GITHUB_STEP_SUMMARY": str(summary)}
    env.pop("DATABASE_URL", None)
    by_id = steps()
    assert {"install-kit", "start-server", "conformance", "summary"} <= set(by_id)
    # The fork knowingly skips three SHOULDs (the zoo's correct app takes the other branches).
    (tmp_path / "conformance-expectations.toml").write_text(
        '[expected-failures]\nCREATE-LOCATION = "we do not send Location"\n'
        'INVALID-422 = "we answer 400 to every invalid body"\n'
        'ERROR-PROBLEM = "our errors are plain JSON objects"\n'
    )
    assert run_step(by_id["conformance"], tmp_path, env) == 0
    assert run_step(by_id["summary"], tmp_path, env) == 0
    assert "## Books API v1 conformance" in summary.read_text()
    assert (tmp_path / "conformance-junit.xml").is_file()
    report = json.loads((tmp_path / "conformance-report.json").read_text())
    outcomes = {item["id"]: item["outcome"] for item in report["requirements"]}
    assert outcomes["CREATE-LOCATION"] == "expected-failure"
    assert "failed" not in outcomes.values()


def test_fork_workflow_fails_when_the_fork_breaks_a_must(zoo: str, tmp_path: Path) -> None:
    """The same step against a fork that reuses ids fails the job."""
    env = {**os.environ, "BOOKS_URL": f"{zoo}/{BROKEN}"}
    env.pop("DATABASE_URL", None)
    (tmp_path / "conformance-expectations.toml").write_text("[expected-failures]\n")
    assert run_step(steps()["conformance"], tmp_path, env) != 0


def test_workflows_validate_against_the_github_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(ROOT / ".github" / "workflows" / "ci.yml"), str(FORK_WORKFLOW)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
