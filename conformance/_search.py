"""Running Hypothesis searches over HTTP: settings, phases, and the first-violation guard.

Example::

    guard = FirstViolation()

    @settings_for(40)
    @given(body=valid_bodies())
    @guard.record
    def check(body): ...

    guard.run(check)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec

from hypothesis import Phase, note, settings
from hypothesis.errors import Flaky

from conformance._profiles import hypothesis_settings
from conformance._violation import RequirementViolation

P = ParamSpec("P")
#: Properties and the kit's state machine: no ``explain`` phase (over HTTP it costs many extra
#: requests after shrinking, and prints the falsifying example with its arguments elided).
PROPERTY_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
#: Schemathesis: no ``reuse`` or ``explain`` (the report's reproducer shows the shrunk sequence).
SCHEMATHESIS_PHASES = (Phase.explicit, Phase.generate, Phase.shrink)


def settings_for(examples: int, minimum: int = 1, **overrides: Any) -> settings:
    """Deterministic settings that report one (the simplest) failure instead of a group."""
    options: dict[str, Any] = {"report_multiple_bugs": False, "phases": PROPERTY_PHASES}
    return hypothesis_settings(max(minimum, examples), **{**options, **overrides})


def show(**generated: Any) -> None:
    """Record the generated inputs for the failure report. Hypothesis prints them itself too, but
    importing Schemathesis swaps its printer for one that prints nothing."""
    for name, value in generated.items():
        note(f"{name} = {value!a}")


class FirstViolation:
    """The requirement violations a generated test raised, first one first.

    Over HTTP a failure can depend on state the target keeps between Hypothesis' runs (a list
    that only breaks once the store is big, ids that depend on earlier creates). When a replay
    then behaves differently, Hypothesis gives up with a ``Flaky`` error, which would blame every
    requirement the test is marked with; :meth:`run` re-raises the first violation instead.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[RequirementViolation, str]] = []  # and how it came about

    def add(self, violation: RequirementViolation, context: str) -> None:
        self.seen.append((violation, context))

    def record(self, test: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(test)
        def recorded(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                test(*args, **kwargs)
            except RequirementViolation as violation:
                self.add(violation, "\n".join(f"{k} = {v!a}" for k, v in kwargs.items()))
                raise

        return recorded

    def run(self, test: Callable[[], None], shrink_seconds: int = 300) -> None:
        """Run the search, shrinking a failure for at most ``shrink_seconds``."""
        try:
            with shrink_budget(shrink_seconds):
                test()
        except Flaky as error:
            if not self.seen:
                raise
            first, context = self.seen[0]
            first.add_note(
                "Hypothesis could not replay this failure consistently (the target's state "
                f"changed between its runs: {type(error).__name__}); this is the first failing "
                f"example, unshrunk:\n{context}"
            )
            raise first from error


@contextmanager
def shrink_budget(seconds: int) -> Iterator[None]:
    """Cap the time Hypothesis spends shrinking a failure. Its default, five minutes, is far too
    long for tests that make HTTP requests in CI; Hypothesis keeps the limit monkeypatchable for
    this purpose (``hypothesis.internal.conjecture.engine.MAX_SHRINKING_SECONDS``)."""
    from hypothesis.internal.conjecture import engine

    saved, engine.MAX_SHRINKING_SECONDS = engine.MAX_SHRINKING_SECONDS, seconds
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved
