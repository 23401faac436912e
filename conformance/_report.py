"""Per-requirement verdicts and the report formats built from them (terminal, JSON, Markdown)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance._exchange import Exchange, reproducer
from conformance._registry import LEVELS, Registry

PASSED, FAILED, EXPECTED, UNEXPECTED_PASS, NOT_RUN = (
    "passed",
    "failed",
    "expected-failure",
    "unexpected-pass",
    "not-run",
)


@dataclass
class Failure:
    """The first failure seen for a requirement, with enough to reproduce it."""

    test: str
    layer: str
    message: str
    exchanges: Sequence[Exchange]
    exchange: Exchange | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "layer": self.layer,
            "message": self.message,
            "exchange": self.exchange.to_dict() if self.exchange else None,
            "reproducer": reproducer(self.exchanges) if self.exchanges else None,
        }


@dataclass
class Verdict:
    """Everything the run learnt about one requirement."""

    passes: int = 0
    failures: int = 0
    first_failure: Failure | None = None
    layers: set[str] = field(default_factory=set)  # layers that caught a failure


@dataclass
class Hygiene:
    """What the run created on the target and whether it cleaned it up."""

    created: int = 0
    leftovers: list[int] = field(default_factory=list)


class ConformanceReport:
    """Collects test outcomes per requirement.

    Example::

        report = ConformanceReport(load_registry(), expectations={}, strict=False)
        report.record_pass(["CREATE-OK"])
        report.status("CREATE-OK")  # "passed"
    """

    def __init__(self, registry: Registry, expectations: dict[str, str], strict: bool) -> None:
        self.registry = registry
        self.expectations = expectations
        self.strict = strict
        self.verdicts = {rid: Verdict() for rid in registry}
        self.hygiene: Hygiene | None = None
        self.target = ""
        self.traffic: dict[str, tuple[int, str]] = {}  # test id -> requests sent, fingerprint

    def add_hygiene(self, hygiene: Hygiene) -> None:
        """Sum hygiene over sessions (one per xdist worker)."""
        if self.hygiene is None:
            self.hygiene = Hygiene()
        self.hygiene.created += hygiene.created
        self.hygiene.leftovers += hygiene.leftovers

    def add_traffic(self, test: str, requests: int, digest: str) -> None:
        """What one test sent (see :func:`conformance._exchange.fingerprint`)."""
        self.traffic[test] = (requests, digest)

    @property
    def requests(self) -> int:
        return sum(count for count, _ in self.traffic.values())

    @property
    def fingerprint(self) -> str:
        """One digest of every test's requests, independent of test order (xdist)."""
        lines = "\n".join(f"{test} {digest}" for test, (_, digest) in sorted(self.traffic.items()))
        return hashlib.sha256(lines.encode()).hexdigest()

    def record_pass(self, requirements: Sequence[str]) -> None:
        for rid in requirements:
            self.verdicts[rid].passes += 1

    def record_failure(self, requirement: str, failure: Failure) -> None:
        verdict = self.verdicts[requirement]
        verdict.failures += 1
        verdict.layers.add(failure.layer)
        if verdict.first_failure is None:
            verdict.first_failure = failure

    def gating(self, requirement: str) -> bool:
        """Does a failure of this requirement fail the run (absent an expectation)?"""
        return self.strict or self.registry[requirement].gating

    def status(self, requirement: str) -> str:
        verdict = self.verdicts[requirement]
        listed = requirement in self.expectations
        if verdict.failures:
            return EXPECTED if listed else FAILED
        if verdict.passes:
            return UNEXPECTED_PASS if listed else PASSED
        return NOT_RUN

    def unexpected_passes(self) -> list[str]:
        return [rid for rid in self.registry if self.status(rid) == UNEXPECTED_PASS]

    def failed(self, level: str | None = None) -> list[str]:
        return [
            rid
            for rid in self.registry
            if self.status(rid) == FAILED and level in (None, self.registry[rid].level)
        ]

    def ran_any(self) -> bool:
        return any(v.passes or v.failures for v in self.verdicts.values())

    # -- formats ---------------------------------------------------------------------------------
    def terminal_lines(self) -> list[str]:
        lines = [f"Books API v{self.registry.contract_version} conformance of {self.target}"]
        for level in LEVELS:
            ids = [rid for rid in self.registry if self.registry[rid].level == level]
            ran = [rid for rid in ids if self.status(rid) != NOT_RUN]
            if not ran:
                continue
            passed = sum(self.status(rid) == PASSED for rid in ids)
            line = f"  {level:<6} {passed}/{len(ids)} passed"
            failed = self.failed(level)
            if failed:
                note = (
                    ""
                    if self.strict or level == "MUST"
                    else " (reported; --conformance-strict fails them)"
                )
                line += f"; failed: {', '.join(failed)}{note}"
            not_run = [rid for rid in ids if self.status(rid) == NOT_RUN]
            if not_run:
                line += f"; not run: {', '.join(not_run)}"
            lines.append(line)
        expected = [rid for rid in self.registry if self.status(rid) == EXPECTED]
        if expected:
            lines.append(f"  expected failures (from the expectations file): {', '.join(expected)}")
        if self.unexpected_passes():
            lines.append(
                "  UNEXPECTED PASS (remove from the expectations file): "
                + ", ".join(self.unexpected_passes())
            )
        if self.hygiene is not None:
            left = self.hygiene.leftovers
            lines.append(
                f"  hygiene: created {self.hygiene.created} book(s), "
                + (f"could NOT delete {left}" if left else "deleted all of them")
            )
        if self.traffic:
            lines.append(
                f"  traffic: {self.requests} requests (fingerprint {self.fingerprint[:16]}: "
                "equal for two runs that sent the same requests)"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        requirements = []
        for rid, req in self.registry.items():
            verdict = self.verdicts[rid]
            requirements.append(
                {
                    "id": rid,
                    "level": req.level,
                    "text": req.text,
                    "outcome": self.status(rid),
                    "passes": verdict.passes,
                    "failures": verdict.failures,
                    "caught_by": sorted(verdict.layers),
                    "expected_reason": self.expectations.get(rid),
                    "first_failure": verdict.first_failure.to_dict()
                    if verdict.first_failure
                    else None,
                }
            )
        return {
            "contract_version": self.registry.contract_version,
            "target": self.target,
            "strict": self.strict,
            "summary": {
                level: {
                    "total": sum(r["level"] == level for r in requirements),
                    "passed": sum(
                        r["level"] == level and r["outcome"] == PASSED for r in requirements
                    ),
                    "failed": [
                        r["id"]
                        for r in requirements
                        if r["level"] == level and r["outcome"] == FAILED
                    ],
                }
                for level in LEVELS
            },
            "hygiene": None
            if self.hygiene is None
            else {"created": self.hygiene.created, "leftovers": self.hygiene.leftovers},
            "traffic": {
                "requests": self.requests,
                "fingerprint": self.fingerprint,
                "tests": {
                    test: {"requests": count, "fingerprint": digest}
                    for test, (count, digest) in sorted(self.traffic.items())
                },
            },
            "requirements": requirements,
        }

    def to_markdown(self) -> str:
        data = self.to_json()
        out = [f"## Books API v{data['contract_version']} conformance", ""]
        out.append(f"Target: `{self.target}`" + (" (strict)" if self.strict else ""))
        out.append("")
        for level, summary in data["summary"].items():
            if summary["total"]:
                out.append(f"- **{level}**: {summary['passed']}/{summary['total']} passed")
        out += ["", "| Requirement | Level | Outcome | Caught by |", "|---|---|---|---|"]
        icons = {
            PASSED: "✅ passed",
            FAILED: "❌ failed",
            EXPECTED: "⚠️ expected failure",
            UNEXPECTED_PASS: "❗ unexpected pass",
            NOT_RUN: "⏸ not run",
        }
        for item in data["requirements"]:
            out.append(
                f"| {item['id']} | {item['level']} | {icons[item['outcome']]} | "
                f"{', '.join(item['caught_by'])} |"
            )
        for item in data["requirements"]:
            failure = item["first_failure"]
            if failure is None:
                continue
            out += ["", f"### {item['id']} ({item['level']}): {item['text']}", ""]
            if item["expected_reason"]:
                out.append(f"Expected to fail: {item['expected_reason']}")
                out.append("")
            out += [f"First failure in `{failure['test']}` ({failure['layer']}):", "", "```"]
            out += [failure["message"], "```"]
            if failure["reproducer"]:
                out += ["", "Reproduce (`BASE_URL=http://host:port bash repro.sh`):", "", "```bash"]
                out += [failure["reproducer"].rstrip(), "```"]
        return "\n".join(out) + "\n"

    def write_json(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_json(), handle, indent=2, ensure_ascii=False)
            handle.write("\n")

    def write_markdown(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_markdown())
