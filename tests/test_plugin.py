"""The pytest plugin, exercised with pytester: options, auto-boot, fail-fast, expectations, strict
mode, reports and traceability."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

import conformance.plugin
from conformance._boot import ServerProcess

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
# A handful of fast kit tests, enough to exercise every plugin path.
SUBSET = [
    "-k",
    "test_create_returns_201 or test_create_sends_location or test_read_returns_the_book",
]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Every zoo variant served from one process: ``{zoo}/correct``, ``{zoo}/<mutant>``."""
    command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
    server = ServerProcess(command, ROOT, ready_path="/correct/books")
    with server:
        yield server.url


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--pyargs", "conformance", "-p", "no:cacheprovider", *args)


def test_options_live_in_one_group_with_env_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*Books API conformance kit*", "*--conformance-strict*"])
    for option in ("expectations", "report-json", "report-md", "profile", "timeout"):
        result.stdout.fnmatch_lines([f"*--conformance-{option}*"])
    assert "--base-url" in result.stdout.str()  # owned by pytest-base-url, not re-registered


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"CONFORMANCE_STRICT": "maybe"}, [], "*CONFORMANCE_STRICT='maybe': use 1/true*"),
        ({"CONFORMANCE_PROFILE": "huge"}, [], "*CONFORMANCE_PROFILE='huge': choose one of*"),
        ({}, ["--conformance-timeout", "-1"], "*'-1' must be greater than 0*"),
        ({}, ["--conformance-profile", "huge"], "*invalid choice: 'huge'*"),
    ],
)
def test_bad_options_are_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: list[str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = run(pytester, "--base-url", "http://127.0.0.1:9", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_unreachable_url_fails_fast_with_one_message(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--base-url", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*conformance: cannot reach the target at http://127.0.0.1:9*"])
    assert " failed" not in result.stdout.str()


def test_without_a_url_the_reference_app_is_booted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = run(pytester, *SUBSET)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*Books API conformance*", "*of http://127.0.0.1:*", "*MUST*passed*", "*hygiene: created*"]
    )


def test_a_broken_rule_fails_the_run_and_is_named(pytester: pytest.Pytester, zoo: str) -> None:
    result = run(pytester, "--base-url", f"{zoo}/create-200", *SUBSET)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*MUST*failed: CREATE-OK*"])


def test_a_server_answering_500_fails_under_no_5xx(pytester: pytest.Pytester, zoo: str) -> None:
    result = run(pytester, "--base-url", f"{zoo}/always-500", *SUBSET)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*MUST*failed:*NO-5XX*"])


def test_should_failures_are_reported_and_strict_fails_them(
    pytester: pytest.Pytester, zoo: str
) -> None:
    # The zoo's correct implementation sends no Location: a SHOULD the contract allows skipping.
    lenient = run(pytester, "--base-url", f"{zoo}/correct", *SUBSET)
    lenient.assert_outcomes(passed=3, xfailed=1)
    lenient.stdout.fnmatch_lines(["*SHOULD*failed: CREATE-LOCATION (reported*"])
    strict = run(pytester, "--base-url", f"{zoo}/correct", "--conformance-strict", *SUBSET)
    strict.assert_outcomes(passed=3, failed=1)


def test_expected_failures_and_unexpected_passes(pytester: pytest.Pytester, zoo: str) -> None:
    expectations = pytester.path / "expect.toml"
    expectations.write_text('[expected-failures]\nCREATE-LOCATION = "no Location yet"\n')
    args = ["--base-url", f"{zoo}/correct", "--conformance-strict", *SUBSET]
    result = run(pytester, "--conformance-expectations", str(expectations), *args)
    result.assert_outcomes(passed=3, xfailed=1)
    result.stdout.fnmatch_lines(["*expected failures*CREATE-LOCATION*"])
    expectations.write_text('[expected-failures]\nREAD-OK = "we thought it was broken"\n')
    result = run(pytester, "--conformance-expectations", str(expectations), *args[:2], *SUBSET)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*UNEXPECTED PASS (remove from the expectations file): READ-OK*"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[expected-failures]\nCREATE-LOCATON = "typo"\n',
         "*unknown requirement ID 'CREATE-LOCATON'*did you mean CREATE-LOCATION*"),
        ("[expected-failures]\nCREATE-OK = \n", "*not valid TOML*"),
        ('[expected-failures]\nCREATE-OK = ""\n', "*CREATE-OK needs a reason string*"),
        ('[failures]\nCREATE-OK = "x"\n', "*unknown table(s) failures*"),
    ],
)  # fmt: skip
def test_bad_expectation_files_are_usage_errors(
    pytester: pytest.Pytester, content: str, message: str
) -> None:
    path = pytester.path / "expect.toml"
    path.write_text(content)
    result = run(
        pytester, "--base-url", "http://127.0.0.1:9", "--conformance-expectations", str(path)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{path}{message}"])


def test_missing_expectations_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--conformance-expectations", "nope.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*expectations file nope.toml does not exist*"])


def test_reports_carry_requirements_levels_and_reproducers(
    pytester: pytest.Pytester, zoo: str
) -> None:
    out = pytester.path / "out"
    result = run(
        pytester,
        "--base-url", f"{zoo}/create-200",
        "--conformance-report-json", str(out / "r.json"),
        "--conformance-report-md", str(out / "r.md"),
        "--junitxml", str(out / "junit.xml"),
        *SUBSET,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = json.loads((out / "r.json").read_text())
    by_id = {item["id"]: item for item in report["requirements"]}
    assert by_id["CREATE-OK"]["outcome"] == "failed"
    assert by_id["CREATE-OK"]["level"] == "MUST"
    assert (by_id["READ-OK"]["outcome"], by_id["READ-OK"]["blocked_by"]) == (
        "blocked",
        ["CREATE-OK"],
    )
    assert by_id["LIST-ORDER"]["outcome"] == "not-run"
    failure = by_id["CREATE-OK"]["first_failure"]
    assert failure["exchange"]["response"]["status"] == 200
    assert "curl -sS -X POST" in failure["reproducer"]
    assert report["summary"]["MUST"]["failed"] == ["CREATE-OK"]
    markdown = (out / "r.md").read_text()
    assert "| CREATE-OK | MUST | ✘ failed |" in markdown
    assert "| READ-OK | MUST | - blocked | CREATE-OK |" in markdown
    assert "```bash" in markdown
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    properties = {
        case.get("name"): {(p.get("name"), p.get("value")) for p in case.iter("property")}
        for case in cases
    }
    assert ("requirement", "READ-OK") in properties["test_read_returns_the_book"]
    assert ("level", "MUST") in properties["test_read_returns_the_book"]


def test_reproducer_replays_the_failure(pytester: pytest.Pytester, zoo: str) -> None:
    out = pytester.path / "r.json"
    run(pytester, "--base-url", f"{zoo}/create-200", "--conformance-report-json", str(out), *SUBSET)
    script = json.loads(out.read_text())
    repro = next(r for r in script["requirements"] if r["id"] == "CREATE-OK")["first_failure"]
    path = pytester.path / "repro.sh"
    path.write_text(repro["reproducer"])
    replay = pytester.run("bash", str(path), f"{zoo}/create-200")
    assert replay.ret == 0
    replay.stdout.fnmatch_lines(["*created ID1=*"])


def test_traceability_rejects_untagged_and_unknown_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conformance.plugin, "KIT_DIR", pytester.path)
    pytester.makepyfile(
        test_suite="""
        import pytest

        def test_untagged():
            pass

        @pytest.mark.requirement("NO-SUCH-RULE")
        def test_unknown():
            pass
        """
    )
    result = pytester.runpytest("--collect-only", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*test_untagged names no requirement*",
            "*test_unknown names unknown requirement 'NO-SUCH-RULE'*",
            "*requirement BOOK-SHAPE has no test in the conformance suite*",
        ]
    )


def test_every_requirement_has_a_kit_test(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--pyargs", "conformance", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
