"""Determinism: the report counts and fingerprints the requests a run sends, and two runs against
fresh targets send the same ones, generated layers included."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance._boot import ServerProcess
from conformance._exchange import Exchange, fingerprint

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent


def exchange(method: str, path: str, body: bytes | None = None, host: str = "a:1") -> Exchange:
    return Exchange(method, path, {"host": host, "content-type": "application/json"}, body)


def test_fingerprint_sees_method_path_headers_and_body_but_not_the_host() -> None:
    base = [exchange("POST", "/books", b"{}"), exchange("GET", "/books/1")]
    assert fingerprint(base) == fingerprint([exchange("POST", "/books", b"{}", host="b:2"),
                                             exchange("GET", "/books/1", host="b:2")])  # fmt: skip
    for changed in (
        [exchange("PUT", "/books", b"{}"), base[1]],
        [exchange("POST", "/books?x=1", b"{}"), base[1]],
        [exchange("POST", "/books", b"{ }"), base[1]],
        [Exchange("POST", "/books", {"content-type": "text/plain"}, b"{}"), base[1]],
        base[:1],
    ):
        assert fingerprint(changed) != fingerprint(base)


def test_fingerprint_order_counts_unless_told_otherwise() -> None:
    forward = [exchange("GET", "/books/1"), exchange("GET", "/books/2")]
    backward = forward[::-1]
    assert fingerprint(forward) != fingerprint(backward)
    assert fingerprint(forward, ordered=False) == fingerprint(backward, ordered=False)


def test_a_batch_counts_in_any_order_but_stays_in_its_place() -> None:
    one, two, three = (exchange("GET", f"/books/{n}") for n in (1, 2, 3))
    for ex in (one, two):
        ex.batch = 7
    assert fingerprint([one, two, three]) == fingerprint([two, one, three])
    assert fingerprint([one, two, three]) != fingerprint([three, one, two])  # order outside it
    assert fingerprint([one, two]) != fingerprint([one, two, two])  # a multiset, not a set


PARALLEL = "ignores_query or well_formed_invalid or odd_requests or bad_path_ids_are_rejected"


def test_parallel_checks_send_the_same_multiset_whatever_the_concurrency(
    pytester: pytest.Pytester,
) -> None:
    """The checks that send through ``BooksClient.parallel``: three runs against fresh targets,
    and a sequential one (``--conformance-concurrency 1``), send the same requests."""
    runs = [run_against_a_fresh_zoo(pytester, f"run{n}", "-k", PARALLEL) for n in range(3)]
    runs.append(run_against_a_fresh_zoo(pytester, "sequential", "-k", PARALLEL,
                                        "--conformance-concurrency", "1"))  # fmt: skip
    assert runs[0]["requests"] > 100
    assert len({test for test in runs[0]["tests"] if "ignores_query" in test}) > 3
    assert all(run == runs[0] for run in runs[1:])


def run_against_a_fresh_zoo(pytester: pytest.Pytester, name: str, *options: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
    with ServerProcess(command, ROOT, ready_path="/correct/books") as server:
        out = pytester.path / f"{name}.json"
        result = pytester.runpytest(
            "--pyargs", "conformance", "-p", "no:cacheprovider",
            "--base-url", f"{server.url}/correct", "--conformance-profile", "quick",
            "--conformance-report-json", str(out),
            *(options or ("-k", "read_back or put_replaces or behave_like_the_model or linked "
                          "or concurrent")),
        )  # fmt: skip
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    traffic: dict[str, Any] = json.loads(out.read_text())["traffic"]
    return traffic


def test_two_runs_against_fresh_targets_send_the_same_requests(pytester: pytest.Pytester) -> None:
    first = run_against_a_fresh_zoo(pytester, "first")
    second = run_against_a_fresh_zoo(pytester, "second")
    layers = {test.split("::")[0].rsplit("/", 1)[-1] for test in first["tests"]}
    assert layers >= {"test_properties.py", "test_stateful.py", "test_schemathesis.py",
                      "test_concurrency.py"}  # fmt: skip
    assert first["requests"] > 200
    assert first == second
