"""Example tests for error responses: bad path ids, unsupported methods, error bodies, no 5xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from conformance._cases import valid_body
from conformance._client import JSON, BooksClient, media_type, require
from conformance.test_operations import get_book

requirement = pytest.mark.requirement
Trigger = Callable[[BooksClient, dict[str, Any]], httpx.Response]


def bad_ids(book_id: int) -> list[str]:
    """Path ids that are not integers in 1..2^63-1, derived from a book the kit owns, so a server
    that mis-parses them (truncating, wrapping, prefix-parsing) can only ever hit that book."""
    return ["abc", "0", f"-{book_id}", f"{book_id}.5", f"{book_id}abc", str(2**64 + book_id),
            str(2**63 + book_id)]  # fmt: skip


@requirement("PATH-ID")
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_bad_path_ids_are_rejected(client: BooksClient, book: dict[str, Any], method: str) -> None:
    body = valid_body() if method == "PUT" else None
    wrong = {}
    for bad in bad_ids(book["id"]):
        kwargs: dict[str, Any] = {} if body is None else {"json_body": body}
        status = client.request(method, f"/books/{bad}", **kwargs).status_code
        if status not in (400, 404, 422):
            wrong[bad] = status
    assert not wrong, f"{method} with bad path ids got {wrong}, want 404, 400 or 422"
    assert get_book(client, book["id"]) == book, f"{method} on a bad id changed book {book['id']}"


UNSUPPORTED = [("PATCH", "/books"), ("PATCH", "/books/{id}"), ("POST", "/books/{id}")]


def _unsupported(
    client: BooksClient, book: dict[str, Any], method: str, path: str
) -> httpx.Response:
    return client.request(method, path.format(id=book["id"]), json_body=valid_body())


@requirement("METHOD-4XX")
@pytest.mark.parametrize(("method", "path"), UNSUPPORTED)
def test_unsupported_methods_get_4xx(
    client: BooksClient, book: dict[str, Any], method: str, path: str
) -> None:
    response = _unsupported(client, book, method, path)
    assert 400 <= response.status_code < 500, f"{method} {path} got {response.status_code}"
    assert get_book(client, book["id"]) == book, f"{method} {path} changed the book"


@requirement("METHOD-405")
@pytest.mark.parametrize(("method", "path"), UNSUPPORTED)
def test_unsupported_methods_get_405_with_allow(
    client: BooksClient, book: dict[str, Any], method: str, path: str
) -> None:
    response = _unsupported(client, book, method, path)
    assert response.status_code == 405, f"{method} {path} got {response.status_code}, want 405"
    assert response.headers.get("allow"), f"the 405 for {method} {path} has no Allow header"


def _missing(client: BooksClient, book: dict[str, Any]) -> httpx.Response:
    client.delete(f"/books/{book['id']}")
    return client.get(f"/books/{book['id']}")


TRIGGERS: dict[str, Trigger] = {
    "missing-book": _missing,
    "invalid-body": lambda c, b: c.create({"title": "", "author": "a", "year": 1}),
    "malformed-json": lambda c, b: c.request(
        "POST", "/books", content=b"{", headers={"content-type": JSON}
    ),
    "bad-path-id": lambda c, b: c.get("/books/abc"),
    "unsupported-method": lambda c, b: c.request("PATCH", "/books", json_body=valid_body()),
}


@requirement("ERROR-JSON")
@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_client_errors_have_json_object_bodies(
    client: BooksClient, book: dict[str, Any], trigger: str
) -> None:
    response = TRIGGERS[trigger](client, book)
    ex = client.history[-1]
    assert 400 <= response.status_code < 500, f"{trigger} got {response.status_code}"
    kind = media_type(response.headers)
    require("ERROR-JSON", kind in (JSON, "application/problem+json"), f"Content-Type {kind}", ex)
    require("ERROR-JSON", isinstance(ex.response_json(), dict), "body is not a JSON object", ex)


@requirement("ERROR-PROBLEM")
@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_client_errors_are_problem_details(
    client: BooksClient, book: dict[str, Any], trigger: str
) -> None:
    response = TRIGGERS[trigger](client, book)
    kind = media_type(response.headers)
    assert kind == "application/problem+json", f"{trigger}: Content-Type {kind}"
    problem = response.json()
    assert problem.get("status") == response.status_code, f"status member {problem.get('status')}"
    assert isinstance(problem.get("title"), str), f"no title member in {problem}"


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
        ("POST", "/books", {"headers": {"content-type": "application/json; charset=latin-1"},
                            "content": '{"title": "caf\u00e9"}'.encode("latin-1")}),
        ("POST", "/books", {"headers": {}, "content": b'{"title": "x"}'}),
        ("PUT", item, {"headers": {"content-type": JSON}, "content": b'{"year": 1e400}'}),
        ("DELETE", item + "?cascade=true", {}),
    ]  # fmt: skip
    errors: dict[str, object] = {}
    for method, path, kwargs in odd:
        try:
            status = client.request(method, path, check=False, **kwargs).status_code
        except httpx.TransportError as error:
            errors[f"{method} {path[:40]}"] = f"no response ({type(error).__name__})"
            continue
        if status >= 500:
            errors[f"{method} {path[:40]}"] = status
    assert not errors, f"server errors: {errors}"
