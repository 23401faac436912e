"""Example tests for error responses: bad path ids, unsupported methods, error bodies, no 5xx."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest

from conformance._cases import LIMITS, valid_body
from conformance._client import JSON, PROBLEM_JSON, BooksClient, media_type
from conformance._exchange import Exchange
from conformance._judge import last, read_book, send_raw
from conformance._violation import require

requirement = pytest.mark.requirement
Trigger = Callable[[BooksClient, dict[str, Any]], httpx.Response]


def bad_ids(book_id: int) -> list[str]:
    """Path ids that are not integers in 1..2^63-1, derived from a book the kit owns, so a server
    that mis-parses them (truncating, wrapping, prefix-parsing) can only ever hit that book."""
    return ["abc", "0", f"-{book_id}", f"{book_id}.5", f"{book_id}abc", str(2**64 + book_id),
            str(LIMITS.id_max + 1 + book_id)]  # fmt: skip


@requirement("PATH-ID")
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_bad_path_ids_are_rejected(client: BooksClient, book: dict[str, Any], method: str) -> None:
    body = valid_body() if method == "PUT" else None
    kwargs: dict[str, Any] = {} if body is None else {"json_body": body}
    bad = bad_ids(book["id"])
    answers = client.parallel(
        [partial(client.send, method, f"/books/{b}", rule="PATH-ID", **kwargs) for b in bad]
    )
    wrong = {b: (ex.status, ex) for b, (_, ex) in zip(bad, answers, strict=True)
             if ex.status not in (400, 404, 422)}  # fmt: skip
    first = next(iter(wrong.values()), (0, None))[1]
    got = {bad: status for bad, (status, _) in wrong.items()}
    require(
        "PATH-ID", not wrong, f"{method} with bad path ids got {got}, want 404, 400 or 422", first
    )
    require(
        "PATH-ID",
        read_book(client, book["id"]) == book,
        f"{method} on a bad id changed book {book['id']}",
        last(client),
    )


UNSUPPORTED = [("PATCH", "/books"), ("PATCH", "/books/{id}"), ("POST", "/books/{id}")]


def _unsupported(
    client: BooksClient, book: dict[str, Any], method: str, path: str
) -> httpx.Response:
    return client.request(
        method, path.format(id=book["id"]), json_body=valid_body(), rule="METHOD-4XX"
    )


@requirement("METHOD-4XX")
@pytest.mark.parametrize(("method", "path"), UNSUPPORTED)
def test_unsupported_methods_get_4xx(
    client: BooksClient, book: dict[str, Any], method: str, path: str
) -> None:
    status = _unsupported(client, book, method, path).status_code
    require("METHOD-4XX", 400 <= status < 500, f"{method} {path} got {status}", last(client))
    require(
        "METHOD-4XX",
        read_book(client, book["id"]) == book,
        f"{method} {path} changed the book",
        last(client),
    )


@requirement("METHOD-405")
@pytest.mark.parametrize(("method", "path"), UNSUPPORTED)
def test_unsupported_methods_get_405_with_allow(
    client: BooksClient, book: dict[str, Any], method: str, path: str
) -> None:
    response = _unsupported(client, book, method, path)
    exchange = last(client)
    require(
        "METHOD-405",
        response.status_code == 405,
        f"{method} {path} got {response.status_code}, want 405",
        exchange,
    )
    require(
        "METHOD-405",
        response.headers.get("allow"),
        f"the 405 for {method} {path} has no Allow header",
        exchange,
    )


def _missing(client: BooksClient, book: dict[str, Any]) -> httpx.Response:
    client.delete(f"/books/{book['id']}", rule="DELETE-OK")
    return client.get(f"/books/{book['id']}", rule="READ-404")


#: Requests that must get a 4xx, each with the rule that says so.
TRIGGERS: dict[str, tuple[str, Trigger]] = {
    "missing-book": ("READ-404", _missing),
    "invalid-body": ("INVALID-4XX", lambda c, b: c.create({"title": "", "author": "a", "year": 1},
                                                          rule="INVALID-4XX")),
    "malformed-json": ("INVALID-4XX", lambda c, b: send_raw(c, "POST", "/books", b"{",
                                                            rule="INVALID-4XX")),
    "bad-path-id": ("PATH-ID", lambda c, b: c.get("/books/abc", rule="PATH-ID")),
    "unsupported-method": ("METHOD-4XX", lambda c, b: c.request(
        "PATCH", "/books", json_body=valid_body(), rule="METHOD-4XX")),
}  # fmt: skip


def client_error(client: BooksClient, book: dict[str, Any], trigger: str) -> httpx.Response:
    """Send a trigger; its answer must be a 4xx (else the trigger's own rule is broken)."""
    rule, send = TRIGGERS[trigger]
    response = send(client, book)
    status = response.status_code
    require(rule, 400 <= status < 500, f"{trigger} got {status}, want a 4xx", last(client))
    return response


@requirement("ERROR-JSON")
@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_client_errors_have_json_object_bodies(
    client: BooksClient, book: dict[str, Any], trigger: str
) -> None:
    # The client checks every 4xx itself and blames ERROR-JSON; this says it out loud.
    response = client_error(client, book, trigger)
    ex = last(client)
    kind = media_type(response.headers)
    require("ERROR-JSON", kind in (JSON, PROBLEM_JSON), f"Content-Type {kind}", ex)
    require("ERROR-JSON", isinstance(ex.response_json(), dict), "body is not a JSON object", ex)


@requirement("ERROR-PROBLEM")
@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_client_errors_are_problem_details(
    client: BooksClient, book: dict[str, Any], trigger: str
) -> None:
    response = client_error(client, book, trigger)
    ex = last(client)
    kind = media_type(response.headers)
    require("ERROR-PROBLEM", kind == PROBLEM_JSON, f"{trigger}: Content-Type {kind}", ex)
    problem = ex.response_json()
    require(
        "ERROR-PROBLEM",
        isinstance(problem, dict) and problem.get("status") == ex.status,
        f"{trigger}: status member {problem.get('status') if isinstance(problem, dict) else None}",
        ex,
    )
    require("ERROR-PROBLEM", isinstance(problem.get("title"), str), f"no title in {problem}", ex)


@requirement("NO-5XX")
def test_odd_requests_get_no_server_error(client: BooksClient, book: dict[str, Any]) -> None:
    item = f"/books/{book['id']}"
    odd: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/books", {"headers": {"accept": "text/html"}}),
        ("GET", "/books", {"headers": {"accept": "application/xml"}}),
        ("GET", item, {"headers": {"accept": "*/*", "content-type": JSON}, "content": b"{}"}),
        ("GET", item + "?fields=title&expand=all", {}),
        ("GET", "/books/" + "9" * 100, {}),
        ("GET", "/books/%E2%98%83", {}),
        ("GET", "/books/%00", {}),
        ("POST", "/books", {"headers": {"content-type": JSON}, "content": b"\x00\x01\x02"}),
        ("POST", "/books", {"headers": {"content-type": JSON}, "content": b"[" * 2000}),
        ("POST", "/books", {"headers": {"content-type": JSON}, "content": b'{"a":' * 2000}),
        (
            "POST",
            "/books",
            {
                "headers": {"content-type": "application/json; charset=latin-1"},
                "content": '{"title": "caf\u00e9"}'.encode("latin-1"),
            },
        ),
        ("POST", "/books", {"headers": {}, "content": b'{"title": "x"}'}),
        ("PUT", item, {"headers": {"content-type": JSON}, "content": b'{"year": 1e400}'}),
        ("DELETE", item + "?cascade=true", {}),
    ]
    errors: dict[str, object] = {}
    first = None

    def send(method: str, path: str, kwargs: dict[str, Any]) -> tuple[int | str, Exchange]:
        try:
            response, exchange = client.send(method, path, check=False, **kwargs)
            return response.status_code, exchange
        except httpx.TransportError as error:
            return f"no answer ({type(error).__name__})", client.sent()

    # independent requests at once; the DELETE last, on its own (the others use the book)
    answers = client.parallel([partial(send, *request) for request in odd[:-1]])
    answers.append(send(*odd[-1]))
    for (method, path, _), (status, exchange) in zip(odd, answers, strict=True):
        if isinstance(status, str) or status >= 500:
            errors[f"{method} {path[:40]}"] = status
            first = first or exchange
    require("NO-5XX", not errors, f"server errors: {errors}", first)
