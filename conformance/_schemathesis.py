"""Schemathesis 4, driven by the canonical OpenAPI document and wired into the kit: the entry
points. The stages live in their own modules: filter (``_st_filter``), steer and send
(``_st_runner``), judge (``_st_judge``).

Schemathesis generates the cases (the examples, coverage and fuzzing phases per operation, with
positive and negative data, and the links-based state machine) and judges the responses with its
built-in checks; the kit sends every request itself. Each case is

1. filtered: choices the contract leaves open are never tested either way (a JSON number such as
   ``1999.0`` for ``year``; a non-canonical spelling of a valid path id such as ``05``), and writes
   to the collection (``PUT``/``PATCH``/``DELETE /books``) are never sent;
2. steered (what a global ``before_call`` hook would do, here in the one place requests are sent):
   every number in the path id or a body ``id`` of anything but GET/HEAD is rewritten to a book
   this run created (odd numbers to a live book, even ones to a deleted one; numbers above 2^63-1
   stay above it but become a kit book modulo 2^64), so no server, however leniently it parses
   ids, can be made to write to a row the kit did not create. The state machine drops such steps
   instead (``Runner._drawn_target``);
3. sent through the session :class:`BooksClient` (hygiene guard, ledger, a fresh connection after
   a 5xx, an :class:`Exchange` per request), so every book Schemathesis creates is cleaned up;
4. judged by the built-in checks, each failure filed under the requirement it breaks
   (``_st_judge.rule_for_check``), then by the kit's own rules (:data:`KIT_RULES`):
   the global response rules, the one right status for a request aimed at a kit book, and what an
   accepted POST/PUT must answer (:func:`echo_violations`).

Only the exchanges of the last example Hypothesis ran (the shrunk failing one, on failure) reach
the plugin, prefixed with the requests that created the kit books the example used, so the
report's reproducer is a complete script.

Example::

    schema = load_schema()
    with Runner(client, gating=lambda rid: True) as runner:
        run_operation(runner, schema, "POST /books", hypothesis_settings(40))
    with Runner(client, gating=lambda rid: True) as runner:
        run_stateful(runner, schema, hypothesis_settings(20, stateful_step_count=6))
"""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
from schemathesis import Case, Response
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.schemas import APIOperation, BaseSchema

from conformance._registry import CONTRACT_DIR, load_openapi
from conformance._search import shrink_budget
from conformance._st_judge import STATEFUL_CHECKS, TEST_REQUIREMENTS
from conformance._st_runner import Runner

CONFIG_FILE = CONTRACT_DIR / "schemathesis.toml"


def load_schema() -> BaseSchema:
    """The canonical document as a Schemathesis schema, configured by the kit's own config file.

    Load one per test session, not one per process: a schema remembers which unsupported methods
    its coverage phase already probed on each path, so a reused schema would skip them.
    """
    config = SchemathesisConfig.from_path(CONFIG_FILE)
    return schemathesis.openapi.from_dict(load_openapi(), config=config)


def operations(schema: BaseSchema) -> dict[str, APIOperation[Any, Any, Any, Any]]:
    """The document's operations by label (``"POST /books"``), in document order."""
    found = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the canonical document is broken: a kit bug
        found[result.ok().label] = result.ok()
    return found


def operation_labels() -> list[str]:
    """``["GET /books", "POST /books", ...]`` in document order."""
    return list(operations(load_schema()))


def requirements_for(label: str | None) -> tuple[str, ...]:
    """The requirements the test of ``label`` (None: the state machine) checks and can blame."""
    return TEST_REQUIREMENTS[label]


# -- the two entry points --------------------------------------------------------------------------
def run_operation(
    runner: Runner,
    schema: BaseSchema,
    label: str,
    settings: hypothesis.settings,
    shrink_seconds: int = 300,
) -> None:
    """Examples, coverage and fuzzing (positive and negative) for one operation."""
    operation = operations(schema)[label]

    def test(case: Case[Any]) -> None:
        runner.start_example()
        sent = runner.send(case)
        if sent is not None:
            runner.validate(case, *sent)

    modes = [HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING]
    config = HypothesisTestConfig(
        project=schema.config,
        modes=modes,
        settings=settings,
        explicit_settings=settings,
    )
    hypothesis_test = create_test(operation=operation, test_func=test, config=config)
    with runner.unwrapped(), shrink_budget(shrink_seconds):
        hypothesis_test()


def state_machine(runner: Runner, schema: BaseSchema) -> type[APIStateMachine]:
    """The links-based state machine, sending and checking through ``runner``. A step that names
    a book it did not get from a link (Schemathesis sometimes draws one instead of following the
    link) ends the run as invalid: see ``Runner._drawn_target``."""
    base = schema.as_state_machine()
    runner.steering = False

    class KitStateMachine(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            runner.start_example()

        def call(self, case: Case[Any], **kwargs: Any) -> Response:
            sent = runner.send(case)
            if sent is None:
                hypothesis.reject()
            response, self._exchange = sent
            return response

        def validate_response(
            self, response: Response, case: Case[Any], additional_checks: Any = None, **kwargs: Any
        ) -> None:
            runner.validate(
                case,
                response,
                self._exchange,
                checks=STATEFUL_CHECKS,
                recorder=self.recorder,
                kit_books=False,
            )

    return KitStateMachine


def run_stateful(
    runner: Runner, schema: BaseSchema, settings: hypothesis.settings, shrink_seconds: int = 300
) -> None:
    """Run the state machine (``use_after_free`` and ``ensure_resource_availability`` act here)."""
    from schemathesis.generation.stateful import run_state_machine_as_test

    with runner.unwrapped(), shrink_budget(shrink_seconds):
        run_state_machine_as_test(state_machine(runner, schema), settings=settings)
