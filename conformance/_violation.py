"""What a failed check raises, and what each rule wants of a single request.

A check blames the rule it checks, wherever it sits: ``require("DELETE-OK", ...)`` inside a
concurrency test files the failure under DELETE-OK. The plugin decides what that means for the
test: a failure of one of the rules the test is marked with, or (for a rule the test's rules
need) a *blocked* test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conformance._exchange import Exchange

#: What the contract wants as the answer to a request that must meet a rule (for failure texts
#: and reproducer comments).
WANTS = {
    "CREATE-OK": "201 with the created book",
    "READ-OK": "200 with the book",
    "READ-404": "404 (no such book)",
    "PUT-OK": "200 with the replaced book",
    "PUT-404": "404 (no such book; PUT never creates)",
    "DELETE-OK": "204 with an empty body",
    "DELETE-404": "404 (no such book)",
    "DELETE-GONE": "404 (the book was deleted)",
    "LIST-OK": "200 with a JSON array of every book",
    "LIST-QUERY": "the same 200 answer as without the query string",
    "INVALID-4XX": "400 or 422",
    "PATH-ID": "404, 400 or 422",
    "METHOD-4XX": "a 4xx",
    "METHOD-405": "405 with an Allow header",
    "SIZE-NO-5XX": "a 4xx (413 preferred)",
    "SIZE-413": "413",
    "CT-JSON": "the same answer as with Content-Type: application/json",
    "CT-OTHER": "the body read as JSON, or 415",
    "NO-5XX": "any answer but a 5xx",
}


class RequirementViolation(AssertionError):
    """A response broke a named requirement.

    ``also`` names other rules the same response breaks (a 5xx to a valid create breaks NO-5XX
    and CREATE-OK); the report files the failure under each.

    Example::

        raise RequirementViolation("READ-OK", "GET of a created book got 500", exchange)
    """

    requirement: str
    message: str
    exchange: Exchange | None
    also: tuple[str, ...]
    #: A concurrent history's failure: its operations as data (client, request and answer,
    #: times), for the JSON report, and the exchanges its reproducer replays (instead of all
    #: of the test's).
    timeline: list[dict[str, Any]] | None
    replay: Sequence[Exchange] | None

    def __init__(
        self,
        requirement: str,
        message: str,
        exchange: Exchange | None = None,
        *,
        also: tuple[str, ...] = (),
        timeline: list[dict[str, Any]] | None = None,
        replay: Sequence[Exchange] | None = None,
    ) -> None:
        super().__init__(f"[{requirement}] {message}")
        self.requirement = requirement
        self.message = message
        self.exchange = exchange
        self.also = tuple(rid for rid in dict.fromkeys(also) if rid != requirement)
        self.timeline = timeline
        self.replay = replay

    @property
    def requirements(self) -> tuple[str, ...]:
        """Every rule this failure is filed under, the one checked first."""
        return (self.requirement, *self.also)


class TargetGone(RuntimeError):
    """The target stopped answering: the run ends early instead of waiting out every request."""


class HygieneError(RuntimeError):
    """The kit tried to write to a book it did not create (a bug in a kit test, not the target)."""


def require(
    requirement: str, condition: object, message: str, exchange: Exchange | None = None
) -> None:
    """Assert ``condition``; on failure blame ``requirement`` (with the exchange that showed it).

    Example: ``require("CREATE-OK", response.status_code == 201, "got 200, want 201", exchange)``.
    """
    if not condition:
        raise RequirementViolation(requirement, message, exchange)
