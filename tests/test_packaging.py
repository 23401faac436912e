"""Packaging rules: pins stay in one shape, no registry host is committed, the plugin is wired."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_HOSTS = ("pypi.org", "pythonhosted.org", "registry.npmjs.org", "deb.debian.org")


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_uv_constraints_mirror_constraints_txt() -> None:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert all("==" in pin for pin in pins), "constraints.txt pins exact versions only"
    tool = pyproject()["tool"]
    assert isinstance(tool, dict)
    assert tool["uv"]["constraint-dependencies"] == pins


REFERENCE_STACK = {
    "responder",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "uvicorn",
    "uvloop",
    "alembic",
}


def _names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements
    }


def test_the_kit_installs_without_the_reference_app() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    kit = _names(project["dependencies"])
    assert not kit & REFERENCE_STACK, kit & REFERENCE_STACK
    assert _names(project["optional-dependencies"]["reference"]) >= REFERENCE_STACK


def test_pytest_is_not_capped_below_what_schemathesis_allows() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert "pytest>=8.4,<10" in project["dependencies"]
    tox = (ROOT / "tox.ini").read_text()
    assert "tools.pin {env_tmp_dir}/constraints.txt pytest==8.4.2" in tox  # env pytest-oldest


def test_no_committed_file_names_a_package_registry_host() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if name == "tests/test_packaging.py" or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        offenders += [f"{name}: {host}" for host in REGISTRY_HOSTS if host in text]
    assert not offenders, offenders
    assert "uv.lock" in (ROOT / ".gitignore").read_text().split()


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "conformance"]
    assert plugin.value == "conformance.plugin"
