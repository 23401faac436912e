"""Search budgets for the generated tests, selected with ``--conformance-profile``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings


@dataclass(frozen=True)
class Profile:
    """How many examples each generated layer tries.

    Example: ``PROFILES["quick"].property_examples``.
    """

    name: str
    property_examples: int
    stateful_examples: int
    stateful_steps: int
    schemathesis_examples: int
    #: Seconds Hypothesis may spend shrinking one failure (its default is five minutes): the
    #: verdict is known before shrinking starts, only the example gets smaller.
    shrink_seconds: int
    #: Rounds of the mixed concurrent workload judged as a history (CONC-LINEARIZABLE), each
    #: the contract's number of requests in flight at once.
    concurrency_rounds: int = 8


PROFILES = {
    p.name: p
    for p in (
        Profile(
            "quick",
            property_examples=10,
            stateful_examples=8,
            stateful_steps=20,
            schemathesis_examples=10,
            shrink_seconds=5,
            concurrency_rounds=3,
        ),
        Profile(
            "default",  # the zoo's mutants need no more (benchmarks/budget.py, docs/speed.md)
            property_examples=20,
            stateful_examples=10,
            stateful_steps=20,
            schemathesis_examples=15,
            shrink_seconds=10,
            concurrency_rounds=8,
        ),
        Profile(
            "thorough",
            property_examples=300,
            stateful_examples=100,
            stateful_steps=50,
            schemathesis_examples=300,
            shrink_seconds=120,
            concurrency_rounds=40,
        ),
    )
}


def hypothesis_settings(max_examples: int, **overrides: Any) -> settings:
    """Settings for network-bound generated tests: deterministic, no deadline, no example database.

    ``derandomize=True`` makes every run send the same request sequence to a fresh target, so a
    verdict never depends on luck; ``database=None`` keeps replays from changing that sequence.

    Example::

        @hypothesis_settings(PROFILES["quick"].property_examples)
        @given(body=valid_bodies())
        def test_round_trip(client, body): ...
    """
    options: dict[str, Any] = {
        "max_examples": max_examples,
        "deadline": None,
        "derandomize": True,
        "database": None,
        "print_blob": False,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                  HealthCheck.filter_too_much, HealthCheck.data_too_large],
    }  # fmt: skip
    options.update(overrides)
    return settings(**options)
