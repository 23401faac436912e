"""What an implementer reads when their server fails: root causes first, blocked instead of
failed, one readable failure per bug, an early end when the target stops answering, and usage
errors before any request.

Each broken server is the zoo's correct implementation behind a fault (an ASGI wrapper), served
by uvicorn in a thread on 127.0.0.1; the kit runs in-process through pytester.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from conformance._registry import load_registry
from tests.zoo.__main__ import create_app

pytest_plugins = ["pytester"]
ASGI = Any


class Fault:
    """The correct app, except that ``method`` on paths matching ``pattern`` answers 500; with
    ``hang_after``, every request after that many never gets an answer (a deadlocked server)."""

    def __init__(self, method: str, pattern: str, *, hang_after: int | None = None) -> None:
        self.app = create_app()
        self.method, self.pattern, self.hang_after = method, re.compile(pattern), hang_after
        self.seen = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.seen += 1
        if self.hang_after is not None and self.seen > self.hang_after:
            try:
                await asyncio.Event().wait()  # until the server shuts down
            except asyncio.CancelledError:
                return
        if scope["method"] == self.method and self.pattern.fullmatch(scope["path"]):
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": b"Internal Server Error"})
            return
        await self.app(scope, receive, send)


@contextmanager
def serve(app: ASGI) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a thread; yield its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="error", lifespan="off",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_kit(pytester: pytest.Pytester, url: str, *args: str) -> tuple[pytest.RunResult, Any]:
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance", "-p", "no:cacheprovider", "--base-url", url,
        "--conformance-report-json", str(report),
        "--conformance-report-md", str(pytester.path / "report.md"),
        "--conformance-repro-dir", str(pytester.path / "repro"), *args,
    )  # fmt: skip
    data = json.loads(report.read_text()) if report.exists() else None
    return result, data


def failure_output(result: pytest.RunResult) -> list[str]:
    """The lines pytest prints for failures and errors (before the kit's summary)."""
    lines = result.outlines
    start = next((i for i, line in enumerate(lines) if re.match(r"=+ (ERRORS|FAILURES) =+", line)),
                 None)  # fmt: skip
    if start is None:
        return []
    end = next(i for i, line in enumerate(lines) if "Books API conformance" in line)
    return lines[start:end]


def outcomes(data: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
    return {r["id"]: (r["outcome"], r["blocked_by"]) for r in data["requirements"]}


def must_root_causes(markdown: str) -> list[str]:
    registry = load_registry()
    heads = re.findall(r"^### Root cause: (.+)$", markdown, flags=re.M)
    return [h for h in heads if any(registry[r].gating for r in h.split(", "))]


@pytest.mark.parametrize(
    ("fault", "root", "path"),
    [
        (Fault("POST", "/books"), "CREATE-OK", "POST /books"),
        (Fault("GET", r"/books/\d+"), "READ-OK", "GET /books/"),
    ],
    ids=["post-500", "get-item-500"],
)
def test_one_bug_reads_as_one_root_cause(
    pytester: pytest.Pytester, fault: Fault, root: str, path: str
) -> None:
    with serve(fault) as url:
        result, data = run_kit(pytester, url)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    registry = load_registry()
    verdicts = outcomes(data)
    musts = {rid for rid in registry if registry[rid].gating}
    failed = sorted(rid for rid, (outcome, _) in verdicts.items() if outcome == "failed")
    failed = [rid for rid in failed if rid in musts]
    assert failed == sorted([root, "NO-5XX"]), failed
    for rid, (outcome, blocked_by) in verdicts.items():
        if root in registry.prerequisites(rid) and rid != "NO-5XX":
            assert (outcome, blocked_by) == ("blocked", [root]), (rid, outcome, blocked_by)
    shown = failure_output(result)
    assert 0 < len(shown) < 80, "\n".join(shown)
    assert "Traceback" not in "\n".join(shown) and "plugin.py" not in "\n".join(shown)
    assert any(f"[{root}]" in line or f", {root}]" in line for line in shown)
    assert any(line.startswith(f"> {path}") for line in shown), "the request is shown"
    markdown = (pytester.path / "report.md").read_text()
    assert must_root_causes(markdown) == [", ".join(r for r in registry if r in failed)]
    result.stdout.fnmatch_lines(["*root causes*", f"*✘ *{root}*failed; blocks * requirement(s)"])
    scripts = sorted((pytester.path / "repro").glob("*.sh"))
    assert scripts and "the contract wants" in scripts[0].read_text()


def test_blocked_tests_are_skipped_with_the_reason_in_junit(pytester: pytest.Pytester) -> None:
    with serve(Fault("POST", "/books")) as url:
        result, _ = run_kit(pytester, url, "-rs", "--junitxml", str(pytester.path / "junit.xml"))
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('message="blocked by CREATE-OK') > 100
    result.stdout.fnmatch_lines(["SKIPPED *blocked by CREATE-OK*"])


def test_a_target_that_never_answers_ends_the_run_quickly(pytester: pytest.Pytester) -> None:
    """A socket that accepts connections (the kernel completes them) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        result, _ = run_kit(pytester, url)
        took = time.monotonic() - started
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*conformance: cannot reach the target at *ReadTimeout*"])
    assert took < 60  # the bound the README states; without it the run would take half an hour


def test_a_target_that_stops_answering_ends_the_run_early(pytester: pytest.Pytester) -> None:
    """The server deadlocks after 40 requests: three timeouts in a row end the run."""
    with serve(Fault("PATCH", "/none", hang_after=40)) as url:
        result, data = run_kit(pytester, url, "--conformance-timeout", "1")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*RUN ENDED EARLY: the target stopped answering: 3 requests in a row timed out after 1 s*"]
    )
    assert data["ended_early"].startswith("the target stopped answering")
    assert data["traffic"]["requests"] < 50, "no request is sent once the target is gone"
    assert "passed" in {outcome for outcome, _ in outcomes(data).values()}
    assert "test_concurrency" not in result.stdout.str(), "the run stopped before the end"


@pytest.mark.parametrize("option", ["--conformance-report-json", "--conformance-report-md"])
@pytest.mark.parametrize("kind", ["directory", "under-a-file"])
def test_unwritable_report_paths_are_usage_errors_before_any_request(
    pytester: pytest.Pytester, option: str, kind: str
) -> None:
    blocker = pytester.path / "a-file"
    blocker.write_text("x")
    path = pytester.path if kind == "directory" else blocker / "report.json"
    # Port 9 answers nothing: had a request been sent, the error would be "cannot reach".
    result = pytester.runpytest_subprocess("--pyargs", "conformance", "-p", "no:cacheprovider",
                                "--base-url", "http://127.0.0.1:9", option, str(path))  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option} {path}: cannot write there (*); pass a path in*"])
    assert "cannot reach" not in result.stdout.str()
    assert "Traceback" not in result.stderr.str()


def test_foundations_run_first(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--pyargs", "conformance", "--collect-only", "-q",
                                "--base-url", "http://127.0.0.1:9")  # fmt: skip
    ids = [line for line in result.outlines if "::" in line]
    modules = [line.split("::")[0].rsplit("/", 1)[-1] for line in ids]
    assert ids[0].endswith("test_create_returns_201_and_the_book[with-isbn]"), ids[:3]
    layers = ["test_properties.py", "test_stateful.py", "test_schemathesis.py",
              "test_concurrency.py"]  # fmt: skip
    firsts = [modules.index(name) for name in layers]
    assert firsts == sorted(firsts), firsts
    assert max(i for i, m in enumerate(modules) if m.startswith("test_operations")) < firsts[0]
