"""The GitHub action and workflows: the action's own steps run locally, with the zoo's correct
implementation standing in for a fork's server; the fork workflow uses the action."""

from __future__ import annotations

import json
import os
import re
import socket
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


ACTION = ROOT / "action.yml"
EXPECTED = (
    '[expected-failures]\nCREATE-LOCATION = "we do not send Location"\n'
    'INVALID-422 = "we answer 400 to every invalid body"\n'
    'ERROR-PROBLEM = "our errors are plain JSON objects"\n'
)


def action_steps() -> dict[str, dict[str, Any]]:
    action = yaml.safe_load(ACTION.read_text())
    return {step["id"]: step for step in action["runs"]["steps"] if "id" in step}


@pytest.fixture(scope="module")
def zoo() -> Iterator[str]:
    """The zoo: ``/correct`` (no Location header, 400s, plain JSON errors) and the mutants."""
    command = [sys.executable, "-m", "tests.zoo", "--port", "0"]
    with ServerProcess(command, ROOT, ready_path="/correct/books") as server:
        yield server.url


def run_step(
    step: dict[str, Any], workdir: Path, inputs: dict[str, str], env: dict[str, str]
) -> int:
    """Run one step of the action as the runner would: its ``env`` with ``${{ inputs.* }}``
    filled in, this interpreter's environment first on PATH (the kit is installed there)."""

    def fill(value: str) -> str:
        return re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: inputs.get(m[1], ""), value)

    step_env = {name: fill(str(value)) for name, value in step.get("env", {}).items()}
    path = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=workdir, env={**env, **step_env, "PATH": path},
        check=False, timeout=600,
    )  # fmt: skip
    return result.returncode


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONFORMANCE_", "DATABASE"))}
    return {**env, "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}


def test_the_fork_workflow_is_a_few_lines_that_use_the_action() -> None:
    workflow = yaml.safe_load(FORK_WORKFLOW.read_text())
    (job,) = workflow["jobs"].values()
    (used,) = [step for step in job["steps"] if "books-conformance@" in step.get("uses", "")]
    declared = yaml.safe_load(ACTION.read_text())["inputs"]
    assert set(used["with"]) <= set(declared), set(used["with"]) - set(declared)
    assert {"base-url", "start-command", "expectations"} <= set(used["with"])
    assert all(declared[name].get("required") is not True or name in used["with"]
               for name in declared)  # fmt: skip


def test_the_action_starts_a_server_and_gates_it(tmp_path: Path) -> None:
    """The action's own steps, run locally: start the server (the zoo's correct implementation),
    wait for it, run the kit with the fork's expectations, publish the summary."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = f"cd {ROOT} && exec {sys.executable} -m tests.zoo --only correct --port {port}"
    inputs = {"base-url": f"http://127.0.0.1:{port}", "start-command": start,
              "expectations": "conformance-expectations.toml", "strict": "false"}  # fmt: skip
    (tmp_path / "conformance-expectations.toml").write_text(EXPECTED)
    env = clean_env(tmp_path)
    steps = action_steps()
    try:
        assert run_step(steps["start-server"], tmp_path, inputs, env) == 0
        assert run_step(steps["conformance"], tmp_path, inputs, env) == 0
    finally:
        subprocess.run(["pkill", "-f", f"tests.zoo --only correct --port {port}"], check=False)
    assert run_step(steps["summary"], tmp_path, inputs, env) == 0
    assert "## Books API v1 conformance" in (tmp_path / "step-summary.md").read_text()
    assert (tmp_path / "conformance-junit.xml").is_file()
    report = json.loads((tmp_path / "conformance-report.json").read_text())
    outcomes = {item["id"]: item["outcome"] for item in report["requirements"]}
    assert outcomes["CREATE-LOCATION"] == "expected-failure"
    assert "failed" not in outcomes.values()


def test_the_action_fails_the_job_when_the_server_breaks_a_must(zoo: str, tmp_path: Path) -> None:
    """The same step against a server that reuses ids fails the job."""
    inputs = {"base-url": f"{zoo}/{BROKEN}", "expectations": "", "strict": "false"}
    assert run_step(action_steps()["conformance"], tmp_path, inputs, clean_env(tmp_path)) != 0


def test_the_action_reports_a_server_that_never_comes_up(tmp_path: Path) -> None:
    inputs = {"base-url": "http://127.0.0.1:9", "start-command": "true", "wait-seconds": "2"}
    started = run_step(action_steps()["start-server"], tmp_path, inputs, clean_env(tmp_path))
    assert started == 1


def test_workflows_validate_against_the_github_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         str(ROOT / ".github" / "workflows" / "ci.yml"),
         str(ROOT / ".github" / "workflows" / "release.yml"), str(FORK_WORKFLOW)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_action_validates_against_the_github_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-actions",
         str(ACTION)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
