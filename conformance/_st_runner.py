"""Schemathesis stages 2 and 3, steer and send: every case goes through the session
:class:`BooksClient`, with writes pointed at books this run created, and its response is judged
(stage 4, ``_st_judge``) and filed by requirement."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import hypothesis
import requests
from schemathesis import Case, Response
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import REQUEST_SHAPE_PROBES, coverage_scenario

from conformance._cases import valid_body
from conformance._client import BooksClient
from conformance._exchange import Exchange
from conformance._registry import limits
from conformance._st_filter import (
    COLLECTION_WRITES,
    ambiguous_id,
    may_choice,
    permitted,
    unknown_members_only,
)
from conformance._st_judge import (
    KIT_BOOK_ANSWERS,
    OPERATION_RULES,
    STATELESS_CHECKS,
    check_functions,
    check_of,
    describe_failure,
    echo_violations,
    rule_for_check,
)
from conformance._violation import RequirementViolation

# Headers Schemathesis adds that would make two runs differ (a random case id) or that httpx sets.
_DROPPED_HEADERS = {
    *("user-agent", "x-schemathesis-testcaseid", "content-length"),
    *("accept", "accept-encoding", "connection"),
}
_DIGITS = re.compile(r"\d+")
MAX_ID = limits().id_max


class Runner:
    """Sends Schemathesis cases through a :class:`BooksClient` and files failures by requirement.

    ``gating(rid)`` says whether a failure of ``rid`` fails the test now (MUST, not expected) or
    is only reported (SHOULD/MAY, or listed in the expectations file) once the test ends.
    """

    def __init__(self, client: BooksClient, gating: Callable[[str], bool]) -> None:
        self.client = client
        self.gating = gating
        self.example: list[Exchange] = []
        # The first non-gating violation per requirement, with the example that showed it.
        self.deferred: dict[str, tuple[RequirementViolation, list[Exchange]]] = {}
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
            shown = next(iter(self.deferred.values()))[1] if self.deferred else []
        for shown_exchange in shown:
            if forward is not None:
                forward(shown_exchange)
        for violation, _seen in self.deferred.values():
            report(violation)

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

    def violation(self, violation: RequirementViolation) -> None:
        """Raise a gating failure; remember the first non-gating one per requirement."""
        if any(self.gating(rid) for rid in violation.requirements):
            if self.smallest is None or len(self.example) <= len(self.smallest[1]):
                self.smallest = (violation, list(self.example))
            raise violation
        self.deferred.setdefault(violation.requirement, (violation, list(self.example)))

    def flag(self, requirement: str, message: str, exchange: Exchange | None) -> None:
        """A violation of ``requirement`` seen by the kit's own rules (see :meth:`violation`)."""
        self.violation(RequirementViolation(requirement, message, exchange))

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
                self.flag("DELETE-OK", message, self.example[-1])
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
            self.flag("CREATE-OK", message, exchange)
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
        if case.path == "/books" and method in COLLECTION_WRITES:
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
            answer = self.client.request(
                method, path, content=body, headers=headers, check=False,
                rule=self.expected_rule(case),
            )  # fmt: skip
        except httpx.TransportError as error:
            exchange = self.example[-1]
            message = f"no response ({type(error).__name__}: {error})"
            rule = exchange.rule or "NO-5XX"
            self.violation(RequirementViolation(rule, message, exchange, also=("NO-5XX",)))
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
                checks=check_functions(checks),
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
                rid = rule_for_check(name, failure, case, response)
                title = f"{name} ({failure.title})"
                ranked.append(
                    (checks.index(name), rid, describe_failure(name, failure, case), title)
                )
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
            self.flag(rid, message, exchange)
        self.client.check_response(exchange)
        if kit_books and self.aim is not None:
            book_id, live = self.aim
            status, rid = KIT_BOOK_ANSWERS[(case.method.upper(), live)]
            if response.status_code != status:
                whose = "a book the kit created" if live else "a book the kit created and deleted"
                message = f"{case.method.upper()} of {whose} ({book_id}) got "
                message += f"{response.status_code}, want {status}"
                self.flag(rid, message, exchange)


def _header_lists(headers: httpx.Headers) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        lists.setdefault(name.lower(), []).append(value)
    return lists


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
