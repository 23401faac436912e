"""Search budgets for the generated tests, selected with ``--conformance-profile``."""

from __future__ import annotations

from dataclasses import dataclass


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


PROFILES = {
    p.name: p
    for p in (
        Profile(
            "quick",
            property_examples=10,
            stateful_examples=5,
            stateful_steps=20,
            schemathesis_examples=10,
        ),
        Profile(
            "default",
            property_examples=40,
            stateful_examples=15,
            stateful_steps=30,
            schemathesis_examples=40,
        ),
        Profile(
            "thorough",
            property_examples=300,
            stateful_examples=100,
            stateful_steps=50,
            schemathesis_examples=300,
        ),
    )
}
