"""The HTML report and ``python -m conformance matrix`` without a browser: content, escaping,
links, and bad input (one line, exit 2). tests/browser looks at them in Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conformance._exchange import Exchange
from conformance._html import render_report_html, ticks
from conformance._matrix import MatrixError, load_columns, render_matrix_markdown, write_matrix_html
from conformance._registry import load_registry
from conformance._report import ConformanceReport, Failure

ROOT = Path(__file__).resolve().parent.parent


def sample_report(broken: bool) -> ConformanceReport:
    """A report where everything passed, or where POST answered 200 with a hostile body."""
    registry = load_registry()
    report = ConformanceReport(registry, expectations={}, strict=False)
    report.target = "http://127.0.0.1:8000"
    report.meta = {"kit_version": "0.1.0", "profile": "quick", "tools": {"pytest": "9"},
                   "started": "2026-01-01T00:00:00+00:00", "duration_seconds": 1.5}  # fmt: skip
    if not broken:
        report.record_pass(list(registry), "examples")
        return report
    exchange = Exchange("POST", "/books", {"content-type": "application/json"}, b'{"title":"x"}',
                        200, {"content-type": "text/html"}, b"<script>alert(1)</script>",
                        rule="CREATE-OK", want="201 with the created book")  # fmt: skip
    failure = Failure("test_create", "examples", "POST /books got 200, want 201", [exchange],
                      exchange, ("CREATE-OK",))  # fmt: skip
    report.record_failure("CREATE-OK", failure)
    report.record_blocked([rid for rid in registry if rid != "CREATE-OK"], ["CREATE-OK"])
    return report


def write_pair(folder: Path, name: str, report: ConformanceReport, html: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    report.write_json(str(folder / f"{name}.json"))
    if html:
        (folder / f"{name}.html").write_text(render_report_html(report), encoding="utf-8")
    return folder / f"{name}.json"


def matrix_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "conformance", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_the_report_is_self_contained_and_escapes_what_the_target_sent() -> None:
    html = render_report_html(sample_report(broken=True))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external resource"
    assert "@import" not in html and "url(" not in html
    for anchor in ('id="req-CREATE-OK"', 'id="failure-CREATE-OK"', 'id="cause-1"'):
        assert anchor in html
    assert "The contract wants 201 with the created book." in html
    assert 'class="copy"' in html and "curl -sS -X POST" in html


def test_a_report_without_provenance_renders() -> None:
    report = sample_report(broken=False)
    report.meta = {}
    assert "Kit</dt><dd>books-conformance unknown" in render_report_html(report)


def test_rule_texts_show_backticks_as_code() -> None:
    assert ticks("`POST /books` <b>") == "<code>POST /books</code> &lt;b&gt;"
    assert ticks("odd ` tick") == "odd ` tick"


def test_the_matrix_links_failed_cells_to_the_failure_beside_the_json(tmp_path: Path) -> None:
    good = write_pair(tmp_path / "runs", "good", sample_report(broken=False))
    bad = write_pair(tmp_path / "runs", "bad", sample_report(broken=True))
    bare = write_pair(tmp_path / "runs", "bare", sample_report(broken=True), html=False)
    out = tmp_path / "site" / "matrix.html"
    write_matrix_html([good, bad, bare], ["good", "bad", "bare"], out)
    html = out.read_text(encoding="utf-8")
    assert 'href="../runs/bad.html#failure-CREATE-OK"' in html
    assert 'href="../runs/good.html#req-CREATE-OK"' in html
    assert "bare.html" not in html  # no HTML report beside it: no link
    assert html.count('data-outcome="failed"') == 2
    markdown = render_matrix_markdown(load_columns([good, bad], ["good", "bad"]))
    assert "| CREATE-OK | MUST | ✔ passed | ✘ failed |" in markdown
    assert "| **MUST passed** |" in markdown


def test_columns_are_named_by_target_unless_named(tmp_path: Path) -> None:
    first = write_pair(tmp_path, "a", sample_report(broken=False))
    second = write_pair(tmp_path, "b", sample_report(broken=False))
    names = [column.name for column in load_columns([first, second])]
    assert names == ["http://127.0.0.1:8000 (a)", "http://127.0.0.1:8000 (b)"]
    with pytest.raises(MatrixError, match="one --name per report"):
        load_columns([first, second], ["only one"])


def test_matrix_help_exits_0_with_examples() -> None:
    for args in (["--help"], ["matrix", "--help"]):
        result = matrix_cli(*args)
        assert result.returncode == 0
        assert "examples:" in result.stdout
    assert "same stem" in matrix_cli("matrix", "--help").stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("not json", "not JSON"),
        (json.dumps({"hello": 1}), "not a conformance JSON report"),
        (json.dumps({"contract_version": "1", "requirements": [{"id": "X"}]}), "lacks"),
    ],
)
def test_bad_reports_are_one_line_and_exit_2(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    result = matrix_cli("matrix", path, "-o", tmp_path / "matrix.html")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "matrix.html").exists()


def test_matrix_writes_markdown_for_the_step_summary(tmp_path: Path) -> None:
    report = write_pair(tmp_path, "run", sample_report(broken=True))
    result = matrix_cli("matrix", report, "--name", "mine", "--format", "md")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Books API conformance matrix")
    assert "| Requirement | Level | mine |" in result.stdout


def test_an_unwritable_html_report_path_is_a_usage_error_before_any_request(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider",
               "--base-url", "http://127.0.0.1:9", "--conformance-report-html",
               str(blocker / "report.html")]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--conformance-report-html" in result.stderr
