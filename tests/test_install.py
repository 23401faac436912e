"""Installed as users install it: the plugin stays quiet in other projects, a booted reference
app never touches a database the kit was not told to use, and no password is printed."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conformance._boot import ServerProcess, mask

ROOT = Path(__file__).resolve().parent.parent
COMMAND = str(Path(sys.executable).parent / "books-conformance")

pytest_plugins = ["pytester"]
GARBAGE = {
    "CONFORMANCE_PROFILE": "fast",
    "CONFORMANCE_TIMEOUT": "abc",
    "CONFORMANCE_STRICT": "maybe",
    "CONFORMANCE_EXPECTATIONS": "/nonexistent/expectations.toml",
    "CONFORMANCE_REPORT_JSON": "/proc/no/such/report.json",
    "CONFORMANCE_REFERENCE_DB": "nonsense://",
}


def test_the_plugin_is_quiet_in_a_project_that_does_not_run_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_mine="def test_mine():\n    assert 1 + 1 == 2\n")
    baseline = pytester.runpytest_subprocess("-p", "no:conformance", "-p", "no:cacheprovider")
    for name, value in GARBAGE.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "conformance" not in result.stdout.str().replace("books-conformance-", "")
    assert result.stderr.str() == baseline.stderr.str() == ""
    assert len(result.outlines) == len(baseline.outlines), result.outlines


def test_garbage_settings_are_usage_errors_once_the_kit_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONFORMANCE_TIMEOUT", "abc")
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance", "-p", "no:cacheprovider", "--base-url", "http://127.0.0.1:9"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*CONFORMANCE_TIMEOUT: 'abc' is not a number of seconds*"])


def test_the_booted_reference_app_ignores_database_url(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A user's DATABASE_URL names their own database: the kit must not write a row there."""
    users = tmp_path / "users.db"
    with sqlite3.connect(users) as db:
        db.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT)")
        db.execute("INSERT INTO books (title) VALUES ('mine')")
    before = users.read_bytes()
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{users}")
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance", "-p", "no:cacheprovider", "-k", "test_create_returns_201"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*target http://127.0.0.1:* (the bundled reference app on a "
                                 "temporary SQLite file)"])  # fmt: skip
    assert users.read_bytes() == before


def test_no_password_is_printed_when_the_reference_database_is_down(
    pytester: pytest.Pytester,
) -> None:
    url = "postgresql+asyncpg://kit:s3cret-pw@127.0.0.1:9/books"
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance", "-p", "no:cacheprovider", "--conformance-reference-db", url,
        "-k", "test_create_returns_201",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "s3cret-pw" not in output
    assert "kit:***@127.0.0.1:9" in output


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql+asyncpg://kit:pw@db:5432/books", "postgresql+asyncpg://kit:***@db:5432/books"),
        ("see postgres://a:b@h/d and mysql://c:d@e/f", "see postgres://a:***@h/d and mysql://c:***@e/f"),
        ("sqlite+aiosqlite:///tmp/books.db", "sqlite+aiosqlite:///tmp/books.db"),
        ("http://127.0.0.1:8000/books", "http://127.0.0.1:8000/books"),
    ],
)  # fmt: skip
def test_mask_hides_passwords_only(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_the_command_helps_and_knows_its_version() -> None:
    for command in ([COMMAND], [sys.executable, "-m", "conformance"]):
        shown = subprocess.run([*command, "--help"], capture_output=True, text=True, check=False)
        assert shown.returncode == 0, shown.stderr
        assert "examples:" in shown.stdout
        version = subprocess.run([*command, "--version"], capture_output=True, text=True)
        assert version.returncode == 0
        assert re.fullmatch(r"books-conformance \S+ \(Books API contract v1\)\n", version.stdout)


@pytest.mark.parametrize("command", [[COMMAND], [sys.executable, "-m", "conformance", "run"]])
def test_the_command_runs_the_suite_against_a_url(command: list[str], tmp_path: Path) -> None:
    server = ServerProcess([sys.executable, "-m", "tests.zoo", "--port", "0"], ROOT,
                           ready_path="/correct/books")  # fmt: skip
    with server:
        args = ["-k", "test_create_returns_201 or test_read_returns", "-q"]
        good = subprocess.run([*command, f"{server.url}/correct", *args], cwd=tmp_path,
                              capture_output=True, text=True, check=False)  # fmt: skip
        bad = subprocess.run([*command, f"{server.url}/create-200", *args], cwd=tmp_path,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert good.returncode == 0, good.stdout[-2000:]
    assert "3 passed" in good.stdout
    assert bad.returncode == 1
    assert "CREATE-OK (MUST) failed" in bad.stdout


def test_the_command_says_what_a_bad_url_is(tmp_path: Path) -> None:
    result = subprocess.run([COMMAND, "ftp://host"], capture_output=True, text=True)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.count("\n") == 1 and "is not an http(s) URL" in result.stderr
