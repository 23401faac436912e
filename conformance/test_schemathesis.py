"""Schemathesis 4 against the target, driven by the canonical OpenAPI document.

One test per operation runs Schemathesis' examples, coverage and fuzzing phases with positive and
negative data; one test runs the links-based state machine (POST -> GET/PUT/DELETE -> GET), where
``use_after_free`` and ``ensure_resource_availability`` act. Every built-in check the contract
gives a meaning to runs on every response and a failure is filed under the requirement it breaks
(see ``conformance/_schemathesis.py``). Budgets come from ``--conformance-profile``: per operation
``schemathesis_examples`` fuzzed cases on top of the fixed coverage cases, and a quarter as many
state-machine runs of up to STATEFUL_STEPS calls (quick 10/5, default 40/10, thorough 300/75).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from schemathesis.schemas import BaseSchema

from conformance._client import BooksClient
from conformance._profiles import Profile, hypothesis_settings
from conformance._schemathesis import (
    load_schema,
    operation_labels,
    requirements_for,
    run_operation,
    run_stateful,
)
from conformance._search import SCHEMATHESIS_PHASES
from conformance._st_runner import Runner
from conformance.plugin import KIT

# State-machine budget: runs of at most STATEFUL_STEPS calls; the POST -> GET/PUT/DELETE -> GET
# chains the links describe are short, so longer runs mostly repeat them. A quarter as many runs
# as examples per operation keeps the layer within its time budget (a run is ~6 requests).
STATEFUL_STEPS = 6


def stateful_runs(profile: Profile) -> int:
    return max(5, profile.schemathesis_examples // 4)


@pytest.fixture(scope="session")
def schema() -> BaseSchema:
    """One Schemathesis schema per session (see ``load_schema``)."""
    return load_schema()


@pytest.fixture
def gating(request: pytest.FixtureRequest) -> Callable[[str], bool]:
    """Does a failure of a requirement fail the test (MUST, not listed as expected)?"""
    kit = request.config.stash[KIT]
    return lambda rid: kit.report.gating(rid) and rid not in kit.expectations


def _operation_params() -> list[object]:
    return [
        pytest.param(label, id=label, marks=pytest.mark.requirement(*requirements_for(label)))
        for label in operation_labels()
    ]


@pytest.mark.parametrize("label", _operation_params())
def test_operation_conforms_to_the_document(
    client: BooksClient,
    schema: BaseSchema,
    profile: Profile,
    gating: Callable[[str], bool],
    label: str,
) -> None:
    settings = hypothesis_settings(
        profile.schemathesis_examples, phases=SCHEMATHESIS_PHASES, report_multiple_bugs=False
    )
    with Runner(client, gating) as runner:
        run_operation(runner, schema, label, settings, profile.shrink_seconds)


@pytest.mark.requirement(*requirements_for(None))
def test_linked_operations_conform_to_the_document(
    client: BooksClient, schema: BaseSchema, profile: Profile, gating: Callable[[str], bool]
) -> None:
    settings = hypothesis_settings(
        stateful_runs(profile),
        stateful_step_count=STATEFUL_STEPS,
        phases=SCHEMATHESIS_PHASES,
        report_multiple_bugs=False,
    )
    with Runner(client, gating) as runner:
        run_stateful(runner, schema, settings, profile.shrink_seconds)
