"""Example tests for request bodies: validation, exact storage, content types and sizes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance._cases import EXACT_STRINGS, INVALID_BODIES, VALID_EDGES, BodyCase, valid_body
from conformance._client import JSON, BooksClient, require
from conformance.test_operations import expected, get_book, same_book

requirement = pytest.mark.requirement
ONE_MIB = 1024 * 1024


def send(client: BooksClient, method: str, path: str, content: bytes, **headers: str) -> Any:
    return client.request(method, path, content=content, headers={"content-type": JSON, **headers})


def marked_books(client: BooksClient, marker: str) -> list[dict[str, Any]]:
    return [
        b
        for b in client.get("/books").json()
        if isinstance(b, dict) and marker in (b.get("title"), b.get("author"))
    ]


def _invalid_params() -> list[Any]:
    return [
        pytest.param(
            method,
            case,
            id=f"{method}-{case.name}",
            marks=requirement(case.requirement, "INVALID-4XX", "INVALID-UNCHANGED"),
        )
        for method in ("POST", "PUT")
        for case in INVALID_BODIES
    ]


@pytest.mark.parametrize(("method", "case"), _invalid_params())
def test_invalid_body_is_rejected(
    client: BooksClient, book: dict[str, Any], method: str, case: BodyCase
) -> None:
    marker = f"rejected-{case.name}-{book['id']}"
    path = "/books" if method == "POST" else f"/books/{book['id']}"
    response = send(client, method, path, case.body(marker))
    ex = client.history[-1]
    require(case.requirement, not response.is_success, f"{method} accepted an invalid body", ex)
    require(
        "INVALID-4XX",
        response.status_code in (400, 422),
        f"an invalid body got {response.status_code}, want 400 or 422",
        ex,
    )
    if method == "POST":
        stored = marked_books(client, marker)
        require("INVALID-UNCHANGED", not stored, f"a rejected POST stored {stored}", ex)
    else:
        now = get_book(client, book["id"])
        require("INVALID-UNCHANGED", now == book, f"a rejected PUT changed {book} to {now}", ex)


@requirement("INVALID-422")
def test_well_formed_invalid_bodies_get_422(client: BooksClient) -> None:
    wrong = {}
    for case in INVALID_BODIES:
        if case.well_formed:
            status = send(client, "POST", "/books", case.body(f"422-{case.name}")).status_code
            if status != 422:
                wrong[case.name] = status
    assert not wrong, f"well-formed invalid bodies not answered 422: {wrong}"


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=requirement(c.requirement)) for c in VALID_EDGES]
)
def test_valid_edge_values_are_accepted_exactly(client: BooksClient, case: BodyCase) -> None:
    body = json.loads(case.body(f"edge-{case.name}"))
    response = client.create(body)
    require(
        case.requirement,
        response.status_code == 201,
        f"a valid body got {response.status_code}",
        client.history[-1],
    )
    book_id = response.json()["id"]
    for served in (response.json(), get_book(client, book_id)):
        require(
            case.requirement,
            same_book(served, expected(body, book_id)),
            f"sent {body}, stored {served}",
        )


@requirement("VAL-UNKNOWN")
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_unknown_members_are_ignored_or_rejected(
    client: BooksClient, book: dict[str, Any], method: str
) -> None:
    body = {**valid_body(), "conformance_unknown": "echo?", "nested_unknown": {"a": [1]}}
    path = "/books" if method == "POST" else f"/books/{book['id']}"
    response = client.request(method, path, json_body=body)
    if not response.is_success:
        assert response.status_code in (400, 422), f"unknown members got {response.status_code}"
        return
    book_id = response.json()["id"]
    for served in (response.json(), get_book(client, book_id)):
        leaked = {"conformance_unknown", "nested_unknown"} & set(served)
        assert not leaked, f"unknown members {leaked} were stored or echoed: {served}"
    known = {k: v for k, v in body.items() if not k.endswith("unknown")}
    assert same_book(get_book(client, book_id), expected(known, book_id))


@requirement("VAL-CLIENT-ID")
def test_client_id_on_create_is_not_used(client: BooksClient, book: dict[str, Any]) -> None:
    for client_id in (book["id"], 2**62 + 12345):
        response = client.create({**valid_body(), "id": client_id})
        if response.is_success:
            assert response.json()["id"] != client_id, f"the server used the client id {client_id}"
    assert get_book(client, book["id"]) == book, "a create with a client id changed another book"


@requirement("VAL-CLIENT-ID")
def test_client_id_on_put_does_not_move_the_book(client: BooksClient) -> None:
    first, second = (client.create(valid_body()).json() for _ in range(2))
    response = client.put(f"/books/{first['id']}", {**valid_body(), "id": second["id"]})
    if response.is_success:
        assert response.json()["id"] == first["id"], "PUT with a client id changed the book's id"
    assert get_book(client, second["id"]) == second, "PUT with a client id overwrote another book"
    assert client.get(f"/books/{first['id']}").status_code == 200, "the PUT target disappeared"


@requirement("DATA-EXACT")
@pytest.mark.parametrize("text", list(EXACT_STRINGS.values()), ids=list(EXACT_STRINGS))
def test_strings_are_stored_exactly(client: BooksClient, text: str) -> None:
    body = valid_body(title=text, author=text[::-1] or "x", isbn=text[:32])
    created = client.create(body)
    assert created.status_code == 201, f"a valid body got {created.status_code}"
    book_id = created.json()["id"]
    want = expected(body, book_id)
    assert same_book(created.json(), want), f"POST answered {created.json()}, sent {body}"
    assert same_book(get_book(client, book_id), want), f"stored {get_book(client, book_id)}"
    body = valid_body(title=text.upper() + " ", author=text)
    replaced = client.put(f"/books/{book_id}", body).json()
    assert same_book(replaced, expected(body, book_id)), f"PUT answered {replaced}, sent {body}"


@requirement("CT-JSON")
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8"],
)
def test_json_content_types_are_accepted(
    client: BooksClient, book: dict[str, Any], content_type: str
) -> None:
    body = valid_body()
    raw = json.dumps(body).encode()
    created = send(client, "POST", "/books", raw, **{"content-type": content_type})
    assert created.status_code == 201, f"POST with {content_type!r} got {created.status_code}"
    replaced = send(client, "PUT", f"/books/{book['id']}", raw, **{"content-type": content_type})
    assert replaced.status_code == 200, f"PUT with {content_type!r} got {replaced.status_code}"


@requirement("CT-OTHER")
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_accepted_or_415(client: BooksClient, content_type: str) -> None:
    raw = json.dumps(valid_body()).encode()
    response = send(client, "POST", "/books", raw, **{"content-type": content_type})
    accepted = response.is_success  # whether a 201 is right is CREATE-OK's business
    assert accepted or response.status_code == 415, f"{content_type} got {response.status_code}"


def oversized_body() -> tuple[bytes, str]:
    """A body just over 1 MiB (its title is far too long) and a recipe that rebuilds it."""
    size = ONE_MIB + 1024
    head, tail = b'{"title": "', b'", "author": "a", "year": 1}'
    return head + b"x" * size + tail, f"{head!r} + b'x' * {size} + {tail!r}"


@requirement("SIZE-NO-5XX")
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_oversized_body_is_no_server_error(
    client: BooksClient, book: dict[str, Any], method: str
) -> None:
    content, recipe = oversized_body()
    path = "/books" if method == "POST" else f"/books/{book['id']}"
    response = client.request(
        method, path, content=content, headers={"content-type": JSON}, body_recipe=recipe
    )
    assert response.status_code < 500
    assert not response.is_success, (
        f"a body over 1 MiB with a 1 MiB title got {response.status_code}"
    )


@requirement("SIZE-413")
def test_oversized_body_gets_413(client: BooksClient) -> None:
    content, recipe = oversized_body()
    response = client.request(
        "POST", "/books", content=content, headers={"content-type": JSON}, body_recipe=recipe
    )
    assert response.status_code == 413, f"a body over 1 MiB got {response.status_code}"
