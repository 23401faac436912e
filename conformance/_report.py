"""Per-requirement verdicts and the report formats built from them (terminal, JSON, Markdown).

A requirement is *failed* when a check of it failed, *blocked* when tests of it could not judge
it because a requirement they need had failed (and none of its tests passed), *passed* when its
tests passed, and *not-run* otherwise. Failures that share their first failure (one response
that breaks NO-5XX and CREATE-OK) form one *root cause*, reported once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance._exchange import Exchange, reproducer
from conformance._registry import LEVELS, Registry

PASSED, FAILED, EXPECTED, UNEXPECTED_PASS, BLOCKED, NOT_RUN = (
    "passed",
    "failed",
    "expected-failure",
    "unexpected-pass",
    "blocked",
    "not-run",
)
#: How each outcome reads without colour.
SYMBOLS = {
    PASSED: "✔",
    FAILED: "✘",
    EXPECTED: "✘ (expected)",
    UNEXPECTED_PASS: "✔ (unexpected)",
    BLOCKED: "-",
    NOT_RUN: "·",
}


@dataclass
class Failure:
    """The first failure seen for a requirement, with enough to reproduce it."""

    test: str
    layer: str
    message: str
    exchanges: Sequence[Exchange]
    exchange: Exchange | None
    requirements: tuple[str, ...] = ()  # every rule the same failure is filed under
    script: str | None = None  # where the reproducer was written
    timeline: list[dict[str, Any]] | None = None  # a concurrent history's operations, as data

    @property
    def key(self) -> tuple[str, str]:
        """Failures with one key are one root cause."""
        return self.test, self.message

    def to_dict(self) -> dict[str, Any]:
        ex = self.exchange
        return {
            "test": self.test,
            "layer": self.layer,
            "message": self.message,
            "requirements": list(self.requirements),
            "exchange": ex.to_dict() if ex else None,
            "want": ex.want if ex else None,
            "reproducer": reproducer(self.exchanges) if self.exchanges else None,
            "reproducer_path": self.script,
            **({"timeline": self.timeline} if self.timeline is not None else {}),
        }


@dataclass
class Verdict:
    """Everything the run learnt about one requirement."""

    passes: int = 0
    failures: int = 0
    first_failure: Failure | None = None
    layers: set[str] = field(default_factory=set)  # layers that caught a failure
    judged: set[str] = field(default_factory=set)  # layers whose tests of it passed
    blocked_by: set[str] = field(default_factory=set)  # root causes that kept tests from it


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
        self.gone: str | None = None  # why the run ended early, if it did
        self.meta: dict[str, Any] = {}  # who produced the report, when, how long it took
        self.traffic: dict[str, tuple[int, str]] = {}  # test id -> requests sent, fingerprint
        self.first_failed_test: tuple[str, list[str]] | None = None  # where -x would stop
        self.sent = 0  # requests sent so far, in the order tests ended
        self.sent_to_first_failure: int | None = None  # ... when the first failed test ended

    def add_hygiene(self, hygiene: Hygiene) -> None:
        """Sum hygiene over sessions (one per xdist worker)."""
        if self.hygiene is None:
            self.hygiene = Hygiene()
        self.hygiene.created += hygiene.created
        self.hygiene.leftovers += hygiene.leftovers

    def add_traffic(self, test: str, requests: int, digest: str) -> None:
        """What one test sent (see :func:`conformance._exchange.fingerprint`)."""
        self.traffic[test] = (requests, digest)
        self.sent += requests
        failed_first = self.first_failed_test is not None and self.first_failed_test[0] == test
        if failed_first and self.sent_to_first_failure is None:
            self.sent_to_first_failure = self.sent

    @property
    def requests(self) -> int:
        return sum(count for count, _ in self.traffic.values())

    @property
    def fingerprint(self) -> str:
        """One digest of every test's requests, independent of test order (xdist)."""
        lines = "\n".join(f"{test} {digest}" for test, (_, digest) in sorted(self.traffic.items()))
        return hashlib.sha256(lines.encode()).hexdigest()

    # -- recording -------------------------------------------------------------------------------
    def record_pass(self, requirements: Sequence[str], layer: str | None = None) -> None:
        for rid in requirements:
            self.verdicts[rid].passes += 1
            if layer is not None:
                self.verdicts[rid].judged.add(layer)

    def record_failure(self, requirement: str, failure: Failure) -> None:
        verdict = self.verdicts[requirement]
        verdict.failures += 1
        verdict.layers.add(failure.layer)
        if verdict.first_failure is None:
            verdict.first_failure = failure

    def record_blocked(self, requirements: Sequence[str], blockers: Sequence[str]) -> None:
        """Tests of ``requirements`` could not judge them: ``blockers`` had failed."""
        roots = self.roots(blockers)
        for rid in requirements:
            self.verdicts[rid].blocked_by |= roots - {rid}

    # -- reading ---------------------------------------------------------------------------------
    def broken(self, requirement: str) -> bool:
        """Has a check of ``requirement`` failed (listed as expected or not)?"""
        return self.verdicts[requirement].failures > 0

    def roots(self, requirements: Sequence[str] | set[str]) -> set[str]:
        """The failed requirements behind ``requirements``: each failed one itself, each blocked
        one the roots that blocked it."""
        found: set[str] = set()
        for rid in requirements:
            verdict = self.verdicts[rid]
            if verdict.failures:
                found.add(rid)
            elif verdict.blocked_by and not verdict.passes:
                found |= verdict.blocked_by
        return found

    def blockers(self, needs: set[str]) -> set[str]:
        """The root causes among ``needs`` that keep a test from judging its rules."""
        return self.roots(sorted(needs))

    def gating(self, requirement: str) -> bool:
        """Does a failure of this requirement fail the run (absent an expectation)?"""
        return self.strict or self.registry[requirement].gating

    def status(self, requirement: str) -> str:
        verdict = self.verdicts[requirement]
        listed = requirement in self.expectations
        if verdict.failures:
            return EXPECTED if listed else FAILED
        if verdict.blocked_by and not verdict.passes:
            return BLOCKED
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

    def gating_failures(self) -> list[str]:
        """Failed requirements that fail the run."""
        return [rid for rid in self.failed() if self.gating(rid)]

    def ran_any(self) -> bool:
        return any(v.passes or v.failures or v.blocked_by for v in self.verdicts.values())

    def blocked_by(self, root: str) -> list[str]:
        """The requirements ``root`` blocked (not run because it failed)."""
        return [
            rid
            for rid in self.registry
            if self.status(rid) == BLOCKED and root in self.verdicts[rid].blocked_by
        ]

    def root_causes(self) -> list[tuple[Failure, list[str], list[str]]]:
        """(first failure, the requirements it fails, the requirements it blocks), one entry per
        distinct failure, most blocking first."""
        groups: dict[tuple[str, str], tuple[Failure, list[str]]] = {}
        for rid in self.registry:
            verdict = self.verdicts[rid]
            if self.status(rid) not in (FAILED, EXPECTED) or verdict.first_failure is None:
                continue
            failure = verdict.first_failure
            groups.setdefault(failure.key, (failure, []))[1].append(rid)
        causes = []
        for failure, rids in groups.values():
            blocked = sorted({b for rid in rids for b in self.blocked_by(rid)},
                             key=list(self.registry).index)  # fmt: skip
            causes.append((failure, rids, blocked))
        levels = {level: index for index, level in enumerate(LEVELS)}
        causes.sort(key=lambda c: (-len(c[2]), min(levels[self.registry[r].level] for r in c[1])))
        return causes

    # -- formats ---------------------------------------------------------------------------------
    def terminal_lines(self) -> list[str]:
        lines = [f"Books API v{self.registry.contract_version} conformance of {self.target}"]
        if self.gone:
            lines.append(f"  RUN ENDED EARLY: {self.gone}")
        causes = self.root_causes()
        if causes:
            lines.append("  root causes, the most blocking first:")
        for failure, rids, blocked in causes:
            head = ", ".join(f"{rid} ({self.registry[rid].level})" for rid in rids)
            tail = f"; blocks {len(blocked)} requirement(s)" if blocked else ""
            lines.append(f"    ✘ {head} failed{tail}")
            ex = failure.exchange
            if ex is not None:
                got = f"{ex.status}" if ex.status is not None else f"no answer ({ex.error})"
                want = f"; the contract wants {ex.want}" if ex.want and ex.rule in rids else ""
                lines.append(f"      {ex.method} {ex.path[:80]} got {got}{want}")
            lines.append(f"      {failure.message.splitlines()[0][:160]}")
            if failure.script:
                lines.append(f"      reproduce: BASE_URL={self.target} bash {failure.script}")
        for level in LEVELS:
            ids = [rid for rid in self.registry if self.registry[rid].level == level]
            if all(self.status(rid) == NOT_RUN for rid in ids):
                continue
            passed = sum(self.status(rid) == PASSED for rid in ids)
            line = f"  {level:<6} {passed}/{len(ids)} passed"
            failed = self.failed(level)
            if failed:
                lenient = not self.strict and level != "MUST"
                note = " (reported; --conformance-strict fails them)" if lenient else ""
                line += f"; failed: {', '.join(failed)}{note}"
            for outcome in (BLOCKED, NOT_RUN):
                some = [rid for rid in ids if self.status(rid) == outcome]
                if some:
                    line += f"; {outcome.replace('-', ' ')}: {', '.join(some)}"
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
                    "section": req.section,
                    "text": req.text,
                    "needs": list(req.needs),
                    "outcome": self.status(rid),
                    "passes": verdict.passes,
                    "failures": verdict.failures,
                    "caught_by": sorted(verdict.layers),
                    "judged_by": sorted(verdict.layers | verdict.judged),
                    "blocked_by": sorted(verdict.blocked_by) if self.status(rid) == BLOCKED else [],
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
            **self.meta,
            "ended_early": self.gone,
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
                    "blocked": [
                        r["id"]
                        for r in requirements
                        if r["level"] == level and r["outcome"] == BLOCKED
                    ],
                }
                for level in LEVELS
            },
            "root_causes": [
                {"requirements": rids, "blocks": blocked, "test": failure.test}
                for failure, rids, blocked in self.root_causes()
            ],
            "first_failed_test": None
            if self.first_failed_test is None
            else {
                "test": self.first_failed_test[0],
                "requirements": self.first_failed_test[1],
                "requests_sent_by_then": self.sent_to_first_failure,
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
        if self.gone:
            out += ["", f"**The run ended early:** {self.gone}"]
        out.append("")
        for level, summary in data["summary"].items():
            if summary["total"]:
                extra = f", {len(summary['blocked'])} blocked" if summary["blocked"] else ""
                out.append(
                    f"- **{level}**: {summary['passed']}/{summary['total']} passed, "
                    f"{len(summary['failed'])} failed{extra}"
                )
        out += [
            "",
            "| Requirement | Level | Outcome | Caught by / blocked by |",
            "|---|---|---|---|",
        ]
        for item in data["requirements"]:
            why = ", ".join(item["caught_by"] or item["blocked_by"])
            outcome = f"{SYMBOLS[item['outcome']]} {item['outcome']}"
            out.append(f"| {item['id']} | {item['level']} | {outcome} | {why} |")
        for failure, rids, blocked in self.root_causes():
            out += ["", f"### Root cause: {', '.join(rids)}", ""]
            for rid in rids:
                req = self.registry[rid]
                out.append(f"- **{rid}** ({req.level}): {req.text}")
                if rid in self.expectations:
                    out.append(f"  - expected to fail: {self.expectations[rid]}")
            if blocked:
                out += ["", f"It blocks {len(blocked)} requirement(s): {', '.join(blocked)}."]
            out += ["", f"First seen in `{failure.test}` ({failure.layer}):", "", "```"]
            out += [failure.message]
            if failure.exchange is not None:
                out += [failure.exchange.describe()]
                if failure.exchange.want and failure.exchange.rule in rids:
                    out += [f"The contract wants: {failure.exchange.want}"]
            out += ["```"]
            if failure.exchanges:
                out += ["", "Reproduce (`BASE_URL=http://host:port bash repro.sh`):", "", "```bash"]
                out += [reproducer(failure.exchanges).rstrip(), "```"]
        return "\n".join(out) + "\n"

    def write_json(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_json(), handle, indent=2, ensure_ascii=False)
            handle.write("\n")

    def write_markdown(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_markdown())
