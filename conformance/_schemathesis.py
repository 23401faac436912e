"""Schemathesis 4, driven by the canonical OpenAPI document and wired into the kit.

Schemathesis generates the cases (examples, coverage and fuzzing phases per operation, and the
links-based state machine) and judges the responses with its built-in checks; the kit sends every
request itself. Each case is

1. filtered: choices the contract leaves open are never tested either way (a JSON number such as
   ``1999.0`` for ``year``, a non-canonical spelling of a valid path id such as ``05``), and writes
   to the collection (``PUT``/``PATCH``/``DELETE /books``) are never sent;
2. steered: every number in the path id or a body ``id`` of anything but GET/HEAD is rewritten to
   a book this run created (odd numbers to a live book, even ones to a deleted one; numbers above
   2^63-1 stay above it but wrap to a kit book modulo 2^64), so fuzzing can never touch other rows;
3. sent through the session :class:`BooksClient` (hygiene guard, ledger, a fresh connection after a
   5xx, an :class:`Exchange` per request), so every book Schemathesis creates is cleaned up;
4. checked by one built-in check at a time, each failure filed under the requirement it breaks
   (:func:`blame`), then by the kit's global response rules (NO-5XX, ERROR-JSON, SUCCESS-JSON).

Only the exchanges of the last example Hypothesis ran (the shrunk failing one, on failure) reach
the plugin, prefixed with the requests that created the kit books the example used, so the
report's reproducer is a complete script.

Example::

    with Runner(client, gating=lambda rid: True) as runner:
        run_operation(runner, "POST /books", hypothesis_settings(40))
        run_stateful(runner, hypothesis_settings(40, stateful_step_count=10))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import hypothesis
import requests
import schemathesis
import schemathesis.checks
from schemathesis import Case, Response
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import CustomFailure, Failure, FailureGroup, MalformedJson
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.schemas import BaseSchema

from conformance._cases import INT32_MAX, INT32_MIN, valid_body
from conformance._client import MAX_ID, BooksClient, RequirementViolation
from conformance._exchange import Exchange
from conformance._registry import CONTRACT_DIR, load_openapi

CONFIG_FILE = CONTRACT_DIR / "schemathesis.toml"

# Built-in checks run on every response, in reporting priority: when one response breaks several,
# the first one listed is the failure that stops the example.
STATELESS_CHECKS = (
    "not_a_server_error",
    "negative_data_rejection",
    "positive_data_acceptance",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
)
# use_after_free and ensure_resource_availability look at earlier steps: state machine only.
STATEFUL_CHECKS = STATELESS_CHECKS + ("use_after_free", "ensure_resource_availability")

# Per operation: the rule a wrong status on a valid request breaks (2xx, then 4xx).
OPERATION_RULES = {
    "GET /books": ("LIST-OK", "LIST-OK"),
    "POST /books": ("CREATE-OK", "CREATE-OK"),
    "GET /books/{book_id}": ("READ-OK", "READ-404"),
    "PUT /books/{book_id}": ("PUT-OK", "PUT-404"),
    "DELETE /books/{book_id}": ("DELETE-OK", "DELETE-404"),
}

# Check -> every requirement ID a failure of it can be filed under (see blame()).
CHECK_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "not_a_server_error": ("NO-5XX",),
    "negative_data_rejection": ("INVALID-4XX", "PATH-ID"),
    "positive_data_acceptance": ("LIST-OK", "CREATE-OK", "READ-OK", "PUT-OK", "DELETE-OK"),
    "status_code_conformance": (
        "LIST-OK", "CREATE-OK", "READ-OK", "READ-404", "PUT-OK", "PUT-404", "DELETE-OK",
        "DELETE-404", "INVALID-4XX", "PATH-ID",
    ),
    "content_type_conformance": ("SUCCESS-JSON", "ERROR-JSON"),
    "response_schema_conformance": ("BOOK-SHAPE", "SUCCESS-JSON", "ERROR-JSON"),
    "response_headers_conformance": ("CREATE-LOCATION",),
    "unsupported_method": ("METHOD-405", "METHOD-4XX"),
    "use_after_free": ("DELETE-GONE",),
    "ensure_resource_availability": ("READ-YOUR-WRITES",),
}  # fmt: skip
# The kit's own rules for every response (BooksClient.check_response).
GLOBAL_REQUIREMENTS = ("NO-5XX", "ERROR-JSON", "SUCCESS-JSON")

# Headers Schemathesis adds that would make two runs differ (a random case id) or that httpx sets.
_DROPPED_HEADERS = {"user-agent", "x-schemathesis-testcaseid", "content-length"}
_COLLECTION_WRITES = {"PUT", "PATCH", "DELETE"}
_DIGITS = re.compile(r"\d+")
MEMBERS = ("title", "author", "year", "isbn")


@cache
def load_schema() -> BaseSchema:
    """The canonical document as a Schemathesis schema, configured by the kit's own config file."""
    config = SchemathesisConfig.from_path(CONFIG_FILE)
    return schemathesis.openapi.from_dict(load_openapi(), config=config)


def operation_labels() -> list[str]:
    """``["GET /books", "POST /books", ...]`` in document order."""
    return [result.ok().label for result in load_schema().get_all_operations()]


def requirements_for(label: str | None) -> tuple[str, ...]:
    """Every requirement a failure in the test of ``label`` (None: the state machine) can blame."""
    checks = STATEFUL_CHECKS if label is None else STATELESS_CHECKS
    ids: list[str] = list(GLOBAL_REQUIREMENTS)
    for name in checks:
        ids += CHECK_REQUIREMENTS[name]
    if label is not None:
        ok, missing = OPERATION_RULES[label]
        has_id = "{book_id}" in label
        keep = {ok, missing, *GLOBAL_REQUIREMENTS, "BOOK-SHAPE", "METHOD-405", "METHOD-4XX"}
        if label in ("POST /books", "PUT /books/{book_id}"):
            keep.add("INVALID-4XX")
        if has_id:
            keep.add("PATH-ID")
        if label == "POST /books":
            keep.add("CREATE-LOCATION")
        ids = [rid for rid in ids if rid in keep]
    return tuple(dict.fromkeys(ids))


# -- what the contract leaves open ---------------------------------------------------------------
def valid_members(body: dict[str, Any]) -> bool:
    """Are the contract's members of ``body`` valid (unknown members are not looked at)?"""

    def text(value: Any, longest: int) -> bool:
        return isinstance(value, str) and 1 <= len(value) <= longest and "\x00" not in value

    year = body.get("year")
    return (
        text(body.get("title"), 500)
        and text(body.get("author"), 500)
        and type(year) is int
        and INT32_MIN <= year <= INT32_MAX
        and (body.get("isbn") is None or text(body.get("isbn"), 32))
    )


def may_choice(body: Any) -> bool:
    """Does ``body`` carry a ``year`` that is a JSON number with no fraction (``1999.0``)? The
    contract makes accepting it a MAY, so the kit never tests it either way."""
    year = body.get("year") if isinstance(body, dict) else None
    return isinstance(year, float) and math.isfinite(year) and year.is_integer()


def ambiguous_id(segment: str) -> bool:
    """Is ``segment`` a non-canonical spelling of a valid id (``05``, ``+5``, `` 5``, ``5.0``,
    ``5e0``, ``٥``)? The contract names ``abc``, ``0``, ``-1``, ``1.5`` and ``2^64`` as bad ids and
    says nothing of these, so the kit does not test them either way."""
    try:
        value = float(segment)
    except ValueError:
        return False
    return math.isfinite(value) and value.is_integer() and 1 <= value <= MAX_ID


def unknown_members_only(case: Case) -> bool:
    """Is a negative case invalid only because its body has unknown members? The canonical
    document says ``additionalProperties: false``, but the contract lets a server ignore them."""
    meta = case.meta
    if meta is None or not isinstance(case.body, dict):
        return False
    negative = {location for location, info in meta.components.items() if info.mode.is_negative}
    unknown = set(case.body) - set(MEMBERS)
    return negative == {ParameterLocation.BODY} and bool(unknown) and valid_members(case.body)


def blame(check: str, failure: Failure, case: Case, response: Response) -> str:
    """The requirement ID a failure of ``check`` on this response breaks."""
    status = response.status_code
    meta = case.meta
    bad_path = meta is not None and meta.is_negative_at(ParameterLocation.PATH)
    bad_body = (
        meta is not None
        and meta.is_negative_at(ParameterLocation.BODY)
        and not unknown_members_only(case)
    )
    ok, missing = OPERATION_RULES.get(case.operation.label, ("NO-5XX", "NO-5XX"))
    if check == "not_a_server_error":
        return "NO-5XX"
    if check == "unsupported_method":
        return "METHOD-405" if 400 <= status < 500 else "METHOD-4XX"
    if check in ("use_after_free", "ensure_resource_availability", "response_headers_conformance"):
        return CHECK_REQUIREMENTS[check][0]
    if check in ("content_type_conformance", "response_schema_conformance"):
        if status >= 400:
            return "ERROR-JSON"
        if check == "content_type_conformance" or isinstance(failure, MalformedJson):
            return "SUCCESS-JSON"
        return "BOOK-SHAPE"
    if check == "negative_data_rejection" or (check == "status_code_conformance" and status >= 400):
        if bad_path:
            return "PATH-ID"
        if bad_body:
            return "INVALID-4XX"
        return missing if status >= 400 else ok
    return ok  # positive_data_acceptance, or an undocumented non-error status


def permitted(check: str, case: Case, response: Response) -> bool:
    """Does the contract allow what ``check`` objects to? (An accepted body whose only fault is
    unknown members: the contract lets a server ignore them.)"""
    return (
        check == "negative_data_rejection"
        and 200 <= response.status_code < 300
        and unknown_members_only(case)
    )


# -- the runner ----------------------------------------------------------------------------------
class Runner:
    """Sends Schemathesis cases through a :class:`BooksClient` and files failures by requirement.

    ``gating(rid)`` says whether a failure of ``rid`` fails the test now (MUST, not expected) or
    is only reported (SHOULD/MAY, or listed in the expectations file) once the test ends.
    """

    def __init__(self, client: BooksClient, gating: Callable[[str], bool]) -> None:
        self.client = client
        self.gating = gating
        self.example: list[Exchange] = []
        self.soft: dict[str, tuple[str, Exchange | None, list[Exchange]]] = {}
        self.origins: dict[int, list[Exchange]] = {}  # kit book id -> requests that made it
        self.live: int | None = None
        self.tomb: int | None = None
        self.requests = 0
        self._saved: tuple[Any, Any] | None = None

    # -- attaching to the client ------------------------------------------------------------------
    def __enter__(self) -> Runner:
        client = self.client
        self._saved = (client.on_exchange, client.on_violation)
        client.on_exchange, client.on_violation = self._record, self.violation
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        assert self._saved is not None
        forward, report = self._saved
        self.client.on_exchange, self.client.on_violation = forward, report
        if kind is not None:
            shown = self.example
        else:
            shown = next(iter(self.soft.values()))[2] if self.soft else []
        for exchange in shown:
            if forward is not None:
                forward(exchange)
        for rid, (message, exchange, _) in self.soft.items():
            if exchange is not None:
                report(rid, message, exchange)

    def _record(self, exchange: Exchange) -> None:
        self.requests += 1
        self.example.append(exchange)

    def start_example(self) -> None:
        """Forget the previous example's exchanges (only the last example's reach the report)."""
        self.example = []

    def violation(self, requirement: str, message: str, exchange: Exchange | None) -> None:
        """Raise a gating failure; remember the first non-gating one per requirement."""
        if self.gating(requirement):
            raise RequirementViolation(requirement, message, exchange)
        self.soft.setdefault(requirement, (message, exchange, list(self.example)))

    # -- kit-owned books --------------------------------------------------------------------------
    def _kit_book(self, live: bool) -> int:
        ledger = self.client.ledger
        if live and (self.live is None or self.live not in ledger.live):
            self.live = self._create()
        if not live and self.tomb is None:
            self.tomb = self._create()
            response = self.client.request("DELETE", f"/books/{self.tomb}")
            self.origins[self.tomb].append(self.example[-1])
            if response.status_code != 204:
                raise RequirementViolation(
                    "DELETE-OK", f"deleting a kit book got {response.status_code}", self.example[-1]
                )
        book_id = self.live if live else self.tomb
        assert book_id is not None
        # Put the requests that made this book in front of the example, for the reproducer.
        missing = [ex for ex in self.origins[book_id] if all(ex is not e for e in self.example)]
        self.example[:0] = missing
        return book_id

    def _create(self) -> int:
        response = self.client.request("POST", "/books", json_body=valid_body())
        exchange = self.example[-1]
        book_id = response.json().get("id") if response.status_code == 201 else None
        if type(book_id) is not int:
            raise RequirementViolation(
                "CREATE-OK", f"creating a valid book got {response.status_code}", exchange
            )
        self.origins[book_id] = [exchange]
        return book_id

    def _steer_number(self, number: int) -> int:
        magnitude = abs(number)
        if magnitude == 0 or (magnitude <= MAX_ID and self.client.ledger.owns(magnitude)):
            return number
        mine = self._kit_book(live=magnitude % 2 == 1)
        steered = mine if magnitude <= MAX_ID else (max(1, magnitude >> 64) << 64) + mine
        return -steered if number < 0 else steered

    def _steer_text(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            run = match.group()
            value = int(run)
            zeros = len(run) - len(run.lstrip("0"))
            return run if value == 0 else "0" * zeros + str(self._steer_number(value))

        return _DIGITS.sub(swap, text)

    def _steer_value(self, value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return self._steer_number(value)
        if isinstance(value, str):
            return self._steer_text(value)
        if isinstance(value, list):
            return [self._steer_value(item) for item in value]
        if isinstance(value, dict):
            return {self._steer_text(k): self._steer_value(v) for k, v in value.items()}
        return value

    def steer(self, case: Case) -> None:
        """Point any write at books this run created (see the module docstring)."""
        if case.method.upper() in ("GET", "HEAD"):
            return
        if "book_id" in case.path_parameters:
            value = case.path_parameters["book_id"]
            steered = self._steer_value(value)
            if steered != value or type(steered) is not type(value):
                case.path_parameters = {**case.path_parameters, "book_id": steered}
        if isinstance(case.body, dict) and "id" in case.body:
            steered = self._steer_value(case.body["id"])
            if steered != case.body["id"]:
                case.body = {**case.body, "id": steered}

    # -- one request ------------------------------------------------------------------------------
    def _prepare(self, case: Case) -> requests.PreparedRequest:
        kwargs = case.as_transport_kwargs(base_url=self.client.base_url)
        names = ("method", "url", "headers", "params", "cookies", "json", "data", "files")
        request = requests.Request(**{name: kwargs[name] for name in names if name in kwargs})
        prepared = request.prepare()
        for name in _DROPPED_HEADERS:
            prepared.headers.pop(name, None)
        return prepared

    def _relative(self, url: str) -> str:
        sent, base = urlsplit(url), urlsplit(self.client.base_url)
        path = sent.path[len(base.path) :] if sent.path.startswith(base.path) else sent.path
        return path + (f"?{sent.query}" if sent.query else "")

    def send(self, case: Case) -> tuple[Response, Exchange] | None:
        """Filter, steer, send one case; None when it is not sent or got no response."""
        method = case.method.upper()
        if case.path == "/books" and method in _COLLECTION_WRITES:
            hypothesis.reject()  # could wipe other rows on a server that implements it
        if may_choice(case.body):
            hypothesis.reject()
        self.steer(case)
        try:
            prepared = self._prepare(case)
        except (requests.exceptions.InvalidJSONError, ValueError):
            hypothesis.reject()  # e.g. NaN, which JSON cannot spell
        path = self._relative(prepared.url or "")
        parts = path.split("?")[0].split("/")
        meta = case.meta
        if (
            len(parts) > 2
            and meta is not None
            and meta.is_negative_at(ParameterLocation.PATH)
            and ambiguous_id(unquote(parts[2]))
        ):
            hypothesis.reject()
        body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body
        headers = {name: str(value) for name, value in prepared.headers.items()}
        try:
            answer = self.client.request(method, path, content=body, headers=headers, check=False)
        except httpx.TransportError as error:
            exchange = self.example[-1]
            self.violation("NO-5XX", f"no response ({type(error).__name__}: {error})", exchange)
            return None
        exchange = self.example[-1]
        response = Response(
            status_code=answer.status_code,
            headers=_header_lists(answer.headers),
            content=answer.content,
            request=prepared,
            elapsed=answer.elapsed.total_seconds(),
            verify=True,
            message=answer.reason_phrase,
            http_version=answer.http_version.removeprefix("HTTP/"),
            encoding=answer.encoding,
        )
        return response, exchange

    def validate(
        self,
        case: Case,
        response: Response,
        exchange: Exchange,
        checks: tuple[str, ...] = STATELESS_CHECKS,
        recorder: Any = None,
    ) -> None:
        """Run each check on its own, file failures by requirement, then the kit's global rules."""
        found: list[tuple[str, Failure]] = []
        for name in checks:
            try:
                case.validate_response(
                    response,
                    checks=[getattr(schemathesis.checks, name)],
                    transport_kwargs={"base_url": self.client.base_url},
                    recorder=recorder,
                )
            except FailureGroup as group:
                for failure in group.exceptions:
                    if isinstance(failure, CustomFailure):
                        raise RuntimeError(f"kit bug: check {name} crashed: {failure}") from None
                    if not permitted(name, case, response):
                        found.append((name, failure))
        for index, (name, failure) in enumerate(found):
            rid = blame(name, failure, case, response)
            others = [f"{n}: {f.title}" for n, f in found[index + 1 :]]
            self.violation(rid, _describe(name, failure, case, others), exchange)
        self.client.check_response(exchange)


def _header_lists(headers: httpx.Headers) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        lists.setdefault(name.lower(), []).append(value)
    return lists


def _describe(check: str, failure: Failure, case: Case, others: list[str]) -> str:
    meta = case.meta
    how = f"{meta.phase.name.value} phase, {meta.generation.mode.value} data" if meta else "case"
    scenario = getattr(meta.phase.data, "description", None) if meta else None
    lines = [
        f"Schemathesis check `{check}` failed on {case.operation.label} ({how}"
        + (f": {scenario})" if scenario else ")"),
        f"{failure.title}: {failure.message}".strip(),
    ]
    if others:
        lines.append("The same response also failed: " + "; ".join(others))
    return "\n".join(lines)


def _violation_in(error: BaseException) -> RequirementViolation | None:
    """The first RequirementViolation in ``error`` (which may be a Hypothesis exception group)."""
    if isinstance(error, RequirementViolation):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _violation_in(inner)
            if found is not None:
                return found
    return None


@contextmanager
def _unwrapped() -> Iterator[None]:
    """Surface the RequirementViolation inside a Hypothesis Flaky/ExceptionGroup error, so the
    plugin blames its requirement rather than every requirement the test names."""
    try:
        yield
    except BaseExceptionGroup as group:
        found = _violation_in(group)
        if found is None:
            raise
        found.add_note(f"(Hypothesis reported: {type(group).__name__}: {group})")
        raise found from None


# -- the two entry points --------------------------------------------------------------------------
def run_operation(runner: Runner, label: str, settings: hypothesis.settings) -> None:
    """Examples, coverage and fuzzing (positive and negative) for one operation."""
    schema = load_schema()
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)

    def test(case: Case) -> None:
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
    with _unwrapped():
        hypothesis_test()


def state_machine(runner: Runner) -> type[APIStateMachine]:
    """The links-based state machine, sending and checking through ``runner``."""
    base = load_schema().as_state_machine()

    class KitStateMachine(base):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            runner.start_example()

        def call(self, case: Case, **kwargs: Any) -> Response:
            sent = runner.send(case)
            if sent is None:
                hypothesis.reject()
            response, self._exchange = sent
            return response

        def validate_response(
            self, response: Response, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            runner.validate(
                case, response, self._exchange, checks=STATEFUL_CHECKS, recorder=self.recorder
            )

    return KitStateMachine


def run_stateful(runner: Runner, settings: hypothesis.settings) -> None:
    """Run the state machine (``use_after_free`` and ``ensure_resource_availability`` act here)."""
    from schemathesis.generation.stateful import run_state_machine_as_test

    with _unwrapped():
        run_state_machine_as_test(state_machine(runner), settings=settings)
