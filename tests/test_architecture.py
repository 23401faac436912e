"""ARCHITECTURE.md's import rules, enforced by reading every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("conformance", "reference_app", "tools", "tests")
# package (folder) -> the first-party module prefixes it may import
ALLOWED = {
    "conformance": ("conformance",),
    "reference_app": ("reference_app",),
    "tools": ("tools",),
    "tests/zoo": ("tests.zoo",),
}


def imported(path: Path) -> set[str]:
    """Full names of the modules ``path`` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported(path)}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _is_within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("package", list(ALLOWED))
def test_packages_import_only_what_architecture_allows(package: str) -> None:
    offenders = {}
    for path in modules(package):
        bad = {
            name
            for name in imported(path)
            if any(_is_within(name, root) for root in FIRST_PARTY)
            and not any(_is_within(name, ok) for ok in ALLOWED[package])
        }
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"imports that ARCHITECTURE.md forbids: {offenders}"


def test_tools_use_only_the_standard_library() -> None:
    offenders = {}
    for path in modules("tools"):
        third_party = {
            root
            for root in imported_roots(path) - {"tools", "__future__"}
            if root not in sys.stdlib_module_names
        }
        if third_party:
            offenders[str(path.relative_to(ROOT))] = sorted(third_party)
    assert not offenders, offenders


def test_conformance_launches_the_reference_app_only_as_a_process() -> None:
    boot = (ROOT / "conformance" / "_boot.py").read_text(encoding="utf-8")
    assert '"-m", "reference_app"' in boot


def test_conformance_test_modules_share_judgements_only_through_private_modules() -> None:
    """One home for every judgement: no test module of the suite imports another, and the
    kit's private modules import no test module."""
    offenders = {}
    for path in modules("conformance"):
        tests = {name for name in imported(path) if name.startswith("conformance.test_")}
        if tests:
            offenders[path.name] = sorted(tests)
    assert not offenders, offenders
