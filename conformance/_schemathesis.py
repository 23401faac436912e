"""Schemathesis 4, driven by the canonical OpenAPI document and wired into the kit.

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
   (:func:`blame`; :data:`CHECK_REQUIREMENTS`), then by the kit's own rules (:data:`KIT_RULES`):
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

import json
import math
import re
import unicodedata
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
from schemathesis.core.failures import Failure, FailureGroup, MalformedJson
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Err
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.generation.meta import REQUEST_SHAPE_PROBES, coverage_scenario
from schemathesis.generation.stateful.state_machine import APIStateMachine
from schemathesis.openapi.checks import JsonSchemaError, MissingContentType
from schemathesis.schemas import APIOperation, BaseSchema

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
# use_after_free and ensure_resource_availability look at earlier steps: state machine only. They
# know what the response should have been, so they outrank the checks that only see its shape.
STATEFUL_CHECKS = (
    "not_a_server_error",
    "use_after_free",
    "ensure_resource_availability",
    *STATELESS_CHECKS[1:],
)

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
    "negative_data_rejection": ("INVALID-4XX", "PATH-ID", "VAL-UNKNOWN"),
    "positive_data_acceptance": ("LIST-OK", "CREATE-OK", "READ-OK", "PUT-OK", "DELETE-OK"),
    "status_code_conformance": (
        "LIST-OK", "CREATE-OK", "READ-OK", "READ-404", "PUT-OK", "PUT-404", "DELETE-OK",
        "DELETE-404", "INVALID-4XX", "PATH-ID", "VAL-UNKNOWN",
    ),
    "content_type_conformance": ("SUCCESS-JSON", "ERROR-JSON"),
    "response_schema_conformance": ("BOOK-SHAPE", "SUCCESS-JSON", "ERROR-JSON", "READ-404"),
    "response_headers_conformance": ("CREATE-LOCATION",),
    "unsupported_method": ("METHOD-405", "METHOD-4XX"),
    "use_after_free": ("DELETE-GONE",),
    "ensure_resource_availability": ("READ-YOUR-WRITES",),
}  # fmt: skip
# The kit's own rules for every response (BooksClient.check_response).
GLOBAL_REQUIREMENTS = ("NO-5XX", "ERROR-JSON", "SUCCESS-JSON")
# The kit's rules on top of Schemathesis' checks (see Runner.validate) -> what they can blame.
KIT_RULES: dict[str, tuple[str, ...]] = {
    "every response (BooksClient.check_response)": GLOBAL_REQUIREMENTS,
    "a request to a kit book gets its one right status (KIT_BOOK_ANSWERS)": (
        "READ-OK", "READ-404", "PUT-OK", "PUT-404", "DELETE-OK", "DELETE-404",
    ),
    "an accepted POST/PUT answers the book as sent (echo_violations)": (
        "CREATE-OK", "PUT-OK", "PUT-REPLACE", "DATA-EXACT", "VAL-UNKNOWN", "VAL-CLIENT-ID",
    ),
}  # fmt: skip
# What each test can blame: the global rules plus what its checks can see. Unsupported methods are
# probed from the first operation of /books/{book_id} only (the coverage phase attaches them
# there; on /books they would be writes to the collection, which the kit never sends). A DELETE
# has no book in its response. CREATE-LOCATION is left out although response_headers_conformance
# maps to it: Location is optional in the document and any string passes, so a pass here would
# claim a SHOULD the layer cannot see (and turn an expected failure into an unexpected pass).
TEST_REQUIREMENTS: dict[str | None, tuple[str, ...]] = {
    "GET /books": GLOBAL_REQUIREMENTS + ("LIST-OK", "BOOK-SHAPE"),
    "POST /books": GLOBAL_REQUIREMENTS
    + ("CREATE-OK", "INVALID-4XX", "BOOK-SHAPE", "DATA-EXACT", "VAL-UNKNOWN"),
    "GET /books/{book_id}": GLOBAL_REQUIREMENTS
    + ("READ-OK", "READ-404", "PATH-ID", "BOOK-SHAPE", "METHOD-4XX", "METHOD-405"),
    "PUT /books/{book_id}": GLOBAL_REQUIREMENTS
    + ("PUT-OK", "PUT-404", "PUT-REPLACE", "INVALID-4XX", "PATH-ID", "BOOK-SHAPE")
    + ("DATA-EXACT", "VAL-UNKNOWN"),
    "DELETE /books/{book_id}": GLOBAL_REQUIREMENTS + ("DELETE-OK", "DELETE-404", "PATH-ID"),
    None: GLOBAL_REQUIREMENTS
    + ("CREATE-OK", "READ-OK", "READ-404", "PUT-OK", "PUT-404", "PUT-REPLACE", "DELETE-OK")
    + ("DELETE-404", "INVALID-4XX", "BOOK-SHAPE", "DATA-EXACT", "VAL-UNKNOWN", "DELETE-GONE")
    + ("READ-YOUR-WRITES",),
}
# A request to a book the kit owns has one right answer (single-operation tests only).
KIT_BOOK_ANSWERS = {
    ("GET", True): (200, "READ-OK"),
    ("PUT", True): (200, "PUT-OK"),
    ("DELETE", True): (204, "DELETE-OK"),
    ("GET", False): (404, "READ-404"),
    ("PUT", False): (404, "PUT-404"),
    ("DELETE", False): (404, "DELETE-404"),
}

# Headers Schemathesis adds that would make two runs differ (a random case id) or that httpx sets.
_DROPPED_HEADERS = {
    *("user-agent", "x-schemathesis-testcaseid", "content-length"),
    *("accept", "accept-encoding", "connection"),
}
_COLLECTION_WRITES = {"PUT", "PATCH", "DELETE"}
_DIGITS = re.compile(r"\d+")
MEMBERS = ("title", "author", "year", "isbn")


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
    ``5e0``, an Arabic-Indic five)? The contract names ``abc``, ``0``, ``-1``, ``1.5`` and
    ``2^64`` as bad ids and says nothing of these, so the kit does not test them either way."""
    try:
        value = float(segment)
    except ValueError:
        return False
    return math.isfinite(value) and value.is_integer() and 1 <= value <= MAX_ID


def unknown_members_only(case: Case[Any]) -> bool:
    """Is a negative case invalid only because its body has unknown members? The canonical
    document says ``additionalProperties: false``, but the contract lets a server ignore them."""
    meta = case.meta
    if meta is None or not isinstance(case.body, dict):
        return False
    negative = {location for location, info in meta.components.items() if info.mode.is_negative}
    unknown = set(case.body) - set(MEMBERS)
    return negative == {ParameterLocation.BODY} and bool(unknown) and valid_members(case.body)


def blame(check: str, failure: Failure, case: Case[Any], response: Response) -> str:
    """The requirement ID a failure of ``check`` on this response breaks."""
    status = response.status_code
    meta = case.meta
    bad_path = meta is not None and meta.is_negative_at(ParameterLocation.PATH)
    bad_body = meta is not None and meta.is_negative_at(ParameterLocation.BODY)
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
        if response.content.strip() == b"null" and case.method.upper() == "GET":
            return missing  # `200 null` is how this server says "no such book"
        return "BOOK-SHAPE"
    if check == "negative_data_rejection" or (check == "status_code_conformance" and status >= 400):
        if bad_path:
            return "PATH-ID"
        if unknown_members_only(case):
            return "VAL-UNKNOWN"  # unknown members are ignored or rejected with 400/422
        if bad_body:
            return "INVALID-4XX"
        return missing if status >= 400 else ok
    return ok  # positive_data_acceptance, or an undocumented non-error status


def _fold(text: str) -> str:
    """``text`` with the changes servers commonly make undone: Unicode normalisation, case,
    control and format characters, whitespace (trimmed, collapsed or dropped)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] != "C")


def echo_violations(case: Case[Any], response: Response) -> list[tuple[str, str]]:
    """The kit's rules for what an accepted POST/PUT of a valid body answers: the book as sent
    (CREATE-OK/PUT-OK; strings exactly, DATA-EXACT; an absent isbn as null and the same id after
    a PUT, PUT-REPLACE), with no unknown member echoed (VAL-UNKNOWN) and no client id adopted
    (VAL-CLIENT-ID). Schemathesis checks only the shape of the answer."""
    method = case.method.upper()
    meta = case.meta
    if (
        method not in ("POST", "PUT")
        or method != case.operation.method.upper()
        or not 200 <= response.status_code < 300
        or not isinstance(case.body, dict)
        or meta is None
        or coverage_scenario(case) in REQUEST_SHAPE_PROBES
    ):
        return []
    negative = any(info.mode.is_negative for info in meta.components.values())
    if negative and not unknown_members_only(case):
        return []  # an accepted invalid body: negative_data_rejection reports it
    try:
        served = json.loads(response.content)
    except ValueError:
        return []  # not JSON: the shape checks report it
    if not isinstance(served, dict):
        return []
    ok_rule = "CREATE-OK" if method == "POST" else "PUT-OK"
    found: list[tuple[str, str]] = []
    sent = {**case.body, "isbn": case.body.get("isbn")}
    for member in MEMBERS:
        want, got = sent[member], served.get(member)
        if got == want and type(got) is type(want):
            continue
        if isinstance(want, str) and isinstance(got, str) and _fold(got) == _fold(want):
            rid = "DATA-EXACT"
        elif member == "isbn" and "isbn" not in case.body and method == "PUT":
            rid = "PUT-REPLACE"
        else:
            rid = ok_rule
        found.append((rid, f"{method} accepted {member}={want!r} and answered {member}={got!r}"))
    for member in set(case.body) - {*MEMBERS, "id"}:
        if member in served and served[member] == case.body[member]:
            found.append(("VAL-UNKNOWN", f"{method} echoed the unknown member {member!r}"))
    path_id = case.path_parameters.get("book_id")
    if method == "PUT" and str(served.get("id")) != str(path_id):
        adopted = "id" in case.body and served.get("id") == case.body["id"]
        rid = "VAL-CLIENT-ID" if adopted else "PUT-REPLACE"  # the id must not change
        found.append((rid, f"PUT /books/{path_id} answered id {served.get('id')!r}"))
    if method == "POST" and "id" in case.body and served.get("id") == case.body["id"]:
        found.append(("VAL-CLIENT-ID", f"POST with id={case.body['id']!r} created that id"))
    return found


def permitted(check: str, case: Case[Any], response: Response) -> bool:
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
        self.aim: tuple[int, bool] | None = None  # the kit book the last request targets, live?
        # Rewrite writes aimed at other rows (single-operation tests) or drop the case (state
        # machine: a rewritten id would pass for a linked one and mislead the stateful checks).
        self.steering = True
        self.case: Case[Any] | None = None  # the case being sent
        # The failure with the fewest exchanges seen so far, for when Hypothesis cannot finish.
        self.smallest: tuple[RequirementViolation, list[Exchange]] | None = None
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
        for shown_exchange in shown:
            if forward is not None:
                forward(shown_exchange)
        for rid, (message, exchange, _seen) in self.soft.items():
            if exchange is not None:
                report(rid, message, exchange)

    @contextmanager
    def unwrapped(self) -> Iterator[None]:
        """Raise the RequirementViolation itself, so the plugin blames its requirement rather
        than every requirement the test names: unwrap Hypothesis' exception groups, and when
        Hypothesis gives up (a Flaky error: the target answered a replay differently) fall back
        to the smallest failure seen, with its exchanges."""
        try:
            yield
        except (hypothesis.errors.Flaky, BaseExceptionGroup) as error:
            found = _violation_in(error)
            if found is None and self.smallest is not None:
                found, self.example = self.smallest
            if found is None:
                raise
            found.add_note(f"(Hypothesis reported {type(error).__name__}: {error})"[:2000])
            raise found from None

    def _record(self, exchange: Exchange) -> None:
        self.requests += 1
        self.example.append(exchange)

    def start_example(self) -> None:
        """Forget the previous example's exchanges (only the last example's reach the report)."""
        self.example = []

    def violation(self, requirement: str, message: str, exchange: Exchange | None) -> None:
        """Raise a gating failure; remember the first non-gating one per requirement."""
        if self.gating(requirement):
            error = RequirementViolation(requirement, message, exchange)
            if requirement == "NO-5XX":
                # What the request should have got instead, for the plugin's "a 5xx also breaks
                # what the test expected" (rather than every requirement the test names).
                expected = self.expected_rule(self.case) if self.case is not None else None
                error.also = [expected] if expected else []  # type: ignore[attr-defined]
            if self.smallest is None or len(self.example) <= len(self.smallest[1]):
                self.smallest = (error, list(self.example))
            raise error
        self.soft.setdefault(requirement, (message, exchange, list(self.example)))

    # -- kit-owned books --------------------------------------------------------------------------
    def _kit_book(self, live: bool) -> int:
        """A live book this runner created, or one it created and deleted (made on first use)."""
        if live and (self.live is None or self.live not in self.client.ledger.live):
            self.live = self._create()
        if not live and self.tomb is None:
            tomb = self._create()
            response = self.client.request("DELETE", f"/books/{tomb}")
            self.origins[tomb].append(self.example[-1])
            if not response.is_success:
                message = f"deleting a book the kit created got {response.status_code}"
                self.violation("DELETE-OK", message, self.example[-1])
                hypothesis.reject()  # (an expected failure) no deleted book to aim at
            self.tomb = tomb
        book_id = self.live if live else self.tomb
        assert book_id is not None
        # Put the requests that made this book in front of the example, for the reproducer.
        missing = [ex for ex in self.origins[book_id] if all(ex is not e for e in self.example)]
        self.example[:0] = missing
        return book_id

    def _create(self) -> int:
        """Create a book to aim writes at. Any 2xx with an id will do: whether a create answers
        exactly 201 is for the POST test to judge, not a reason to stop testing PUT/DELETE."""
        response = self.client.request("POST", "/books", json_body=valid_body())
        exchange = self.example[-1]
        body = exchange.response_json()
        book_id = body.get("id") if response.is_success and isinstance(body, dict) else None
        if type(book_id) is not int or not self.client.ledger.owns(book_id):
            message = f"creating a valid book got {response.status_code} and no id"
            self.violation("CREATE-OK", message, exchange)
            hypothesis.reject()  # (an expected failure) no book to aim at
        self.origins[book_id] = [exchange]
        return book_id

    def _steer_number(self, number: int) -> int:
        magnitude = abs(number)
        if magnitude == 0 or (magnitude <= MAX_ID and self.client.ledger.owns(magnitude)):
            return number
        if not self.steering:
            hypothesis.reject()  # a write the kit will not send, and must not rewrite either
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

    @staticmethod
    def _drawn_target(case: Case[Any]) -> bool:
        """Does a state-machine step name a book it did not get from a link (a drawn path id, or
        an ``id`` member in a write)? Its answer would depend on what the store happens to hold,
        so replays would differ, and a write could reach a book the kit did not create."""
        meta = case.meta
        drawn_id = meta is not None and ParameterLocation.PATH in meta.components
        body_id = isinstance(case.body, dict) and "id" in case.body
        return drawn_id or (body_id and case.method.upper() not in ("GET", "HEAD"))

    def steer(self, case: Case[Any]) -> None:
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

    def _aim_of(self, case: Case[Any]) -> tuple[int, bool] | None:
        """(id, live?) when a valid request targets this runner's live or deleted book."""
        meta = case.meta
        if (
            meta is None
            or case.method.upper() != case.operation.method.upper()  # an unsupported-method probe
            or coverage_scenario(case) in REQUEST_SHAPE_PROBES
            or any(info.mode.is_negative for info in meta.components.values())
        ):
            return None
        book_id = case.path_parameters.get("book_id")
        if isinstance(book_id, str) and book_id.isascii() and book_id.isdigit():
            book_id = int(book_id)  # the coverage phase sends path values as strings
        if book_id is not None and book_id == self.live and book_id in self.client.ledger.live:
            return book_id, True
        if book_id is not None and book_id == self.tomb:
            return book_id, False
        return None

    def expected_rule(self, case: Case[Any]) -> str | None:
        """The requirement that says what ``case`` should get, when the kit can tell."""
        meta = case.meta
        if case.method.upper() != case.operation.method.upper():
            return "METHOD-4XX"
        if coverage_scenario(case) in REQUEST_SHAPE_PROBES:
            return None  # another media type: CT-OTHER, a MAY
        if meta is not None and meta.is_negative_at(ParameterLocation.PATH):
            return "PATH-ID"
        if meta is not None and meta.is_negative_at(ParameterLocation.BODY):
            return None if unknown_members_only(case) else "INVALID-4XX"
        if self.aim is not None:
            return KIT_BOOK_ANSWERS[(case.method.upper(), self.aim[1])][1]
        if "{book_id}" in case.operation.path:
            return None  # a drawn id: the book may or may not exist
        return OPERATION_RULES[case.operation.label][0]

    # -- one request ------------------------------------------------------------------------------
    def _prepare(self, case: Case[Any]) -> requests.PreparedRequest:
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

    def send(self, case: Case[Any]) -> tuple[Response, Exchange] | None:
        """Filter, steer, send one case; None when it is not sent or got no response."""
        self.case, self.aim = None, None
        method = case.method.upper()
        if case.path == "/books" and method in _COLLECTION_WRITES:
            hypothesis.reject()  # could wipe other rows on a server that implements it
        if may_choice(case.body):
            hypothesis.reject()
        if not self.steering and self._drawn_target(case):
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
        self.case, self.aim = case, self._aim_of(case)
        body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body
        if body is not None and not isinstance(body, bytes):
            raise RuntimeError(f"kit bug: unexpected request body {body!r}")
        headers = {name: str(value) for name, value in prepared.headers.items()}
        try:
            answer = self.client.request(method, path, content=body, headers=headers, check=False)
        except httpx.TransportError as error:
            exchange = self.example[-1]
            self.violation("NO-5XX", f"no response ({type(error).__name__}: {error})", exchange)
            return None
        exchange = self.example[-1]
        if self.aim is not None and self.aim[1] and method == "DELETE" and answer.is_success:
            self.live = None  # whatever the status said, aim the next write at a new book
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
        case: Case[Any],
        response: Response,
        exchange: Exchange,
        checks: tuple[str, ...] = STATELESS_CHECKS,
        recorder: Any = None,
        kit_books: bool = True,
    ) -> None:
        """Run the checks, file their failures by requirement, then the kit's own rules: the
        global ones, and (``kit_books``) the one right answer for a request to a kit book."""
        try:
            case.validate_response(
                response,
                checks=_check_functions(checks),
                transport_kwargs={"base_url": self.client.base_url},
                recorder=recorder,
            )
            failures: list[Failure] = []
        except FailureGroup as group:
            failures = list(group.exceptions)
        ranked: list[tuple[float, str, str, str]] = []  # (priority, requirement, message, title)
        for failure in failures:
            name = check_of(failure)
            if name not in checks:
                raise RuntimeError(f"kit bug: unexpected Schemathesis failure {failure!r}")
            if not permitted(name, case, response):
                rid = blame(name, failure, case, response)
                title = f"{name} ({failure.title})"
                ranked.append((checks.index(name), rid, _describe(name, failure, case), title))
        # What an accepted write echoes is judged before the response's shape: a shape failure
        # caused by a changed string is better filed under the rule that says why.
        echo_rank = checks.index("content_type_conformance") - 0.5
        for rid, message in echo_violations(case, response):
            ranked.append((echo_rank, rid, message, f"{rid} ({message})"))
        ranked.sort(key=lambda item: item[0])
        for index, (_rank, rid, message, _title) in enumerate(ranked):
            others = [title for _, _, _, title in ranked[index + 1 :]]
            if others:
                message += "\nThe same response also failed: " + "; ".join(others)
            self.violation(rid, message, exchange)
        self.client.check_response(exchange)
        if kit_books and self.aim is not None:
            book_id, live = self.aim
            status, rid = KIT_BOOK_ANSWERS[(case.method.upper(), live)]
            if response.status_code != status:
                whose = "a book the kit created" if live else "a book the kit created and deleted"
                message = f"{case.method.upper()} of {whose} ({book_id}) got "
                message += f"{response.status_code}, want {status}"
                self.violation(rid, message, exchange)


@cache
def _check_functions(names: tuple[str, ...]) -> list[Any]:
    return [getattr(schemathesis.checks, name) for name in names]


def check_of(failure: Failure) -> str:
    """The built-in check that reported ``failure`` (a few failure kinds serve two checks)."""
    if isinstance(failure, JsonSchemaError) and failure.title.startswith("Response header"):
        return "response_headers_conformance"
    if isinstance(failure, MissingContentType):
        return "content_type_conformance"
    return type(failure).checks[0] if type(failure).checks else f"custom {type(failure).__name__}"


def _header_lists(headers: httpx.Headers) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        lists.setdefault(name.lower(), []).append(value)
    return lists


def _describe(check: str, failure: Failure, case: Case[Any]) -> str:
    meta = case.meta
    how = f"{meta.phase.name.value} phase, {meta.generation.mode.value} data" if meta else "case"
    scenario = getattr(meta.phase.data, "description", None) if meta else None
    lines = [
        f"Schemathesis check `{check}` failed on {case.operation.label} ({how}"
        + (f": {scenario})" if scenario else ")"),
        f"{failure.title}: {failure.message}" if failure.message else failure.title,
    ]
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


# -- the two entry points --------------------------------------------------------------------------
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
