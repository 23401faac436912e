"""Example tests for request bodies: validation, exact storage, content types and sizes."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest

from conformance._cases import (
    EXACT_STRINGS,
    INVALID_BODIES,
    LIMITS,
    VALID_EDGES,
    BodyCase,
    valid_body,
)
from conformance._client import JSON, BooksClient
from conformance._judge import (
    book_id_of,
    check_book,
    create,
    expected,
    last,
    read_book,
    require_accepted,
    send_raw,
)
from conformance._violation import require

requirement = pytest.mark.requirement


def marked_books(client: BooksClient, marker: str) -> list[dict[str, Any]]:
    return [
        b
        for b in client.list_books()
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
    response = send_raw(client, method, path, case.body(marker), rule="INVALID-4XX")
    ex = last(client)
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
        now = read_book(client, book["id"])
        require("INVALID-UNCHANGED", now == book, f"a rejected PUT changed {book} to {now}", ex)


@requirement("INVALID-422")
def test_well_formed_invalid_bodies_get_422(client: BooksClient) -> None:
    cases = [case for case in INVALID_BODIES if case.well_formed]
    headers = {"content-type": JSON}
    answers = client.parallel([
        partial(client.send, "POST", "/books", content=case.body(f"422-{case.name}"),
                headers=headers, rule="INVALID-4XX")
        for case in cases
    ])  # fmt: skip
    wrong = {c.name: ex for c, (_, ex) in zip(cases, answers, strict=True) if ex.status != 422}
    got = {name: ex.status for name, ex in wrong.items()}
    require(
        "INVALID-422",
        not wrong,
        f"well-formed invalid bodies not answered 422: {got}",
        next(iter(wrong.values()), answers[-1][1] if answers else None),
    )


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name, marks=requirement(c.requirement)) for c in VALID_EDGES]
)
def test_valid_edge_values_are_accepted_exactly(client: BooksClient, case: BodyCase) -> None:
    body = json.loads(case.body(f"edge-{case.name}"))
    response = client.create(body, rule=case.requirement)
    exchange = last(client)
    require_accepted(client, body, response, exchange, status=201, rule=case.requirement)
    book_id = response.json()["id"]
    want = expected(body, book_id)
    check_book("the 201 body", response.json(), want, case.requirement, exchange)
    check_book("the book read", read_book(client, book_id), want, case.requirement, last(client))


UNKNOWN = {"conformance_unknown": "echo?", "nested_unknown": {"a": [1]}}


@requirement("VAL-UNKNOWN")
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_unknown_members_are_ignored_or_rejected(
    client: BooksClient, book: dict[str, Any], method: str
) -> None:
    known = valid_body()
    path = "/books" if method == "POST" else f"/books/{book['id']}"
    response = client.request(method, path, json_body={**known, **UNKNOWN}, rule="VAL-UNKNOWN")
    exchange = last(client)
    if not response.is_success:
        status = response.status_code
        require("VAL-UNKNOWN", status in (400, 422), f"unknown members got {status}", exchange)
        return
    answer = response.json()
    book_id = book_id_of("VAL-UNKNOWN", answer, exchange)
    stored = read_book(client, book_id)
    for where, served, ex in (("echoed", answer, exchange), ("stored", stored, last(client))):
        leaked = sorted(set(UNKNOWN) & set(served))
        require("VAL-UNKNOWN", not leaked, f"unknown members {leaked} were {where}: {served!a}", ex)
        check_book(f"the book {where}", served, expected(known, book_id), "VAL-UNKNOWN", ex)


@requirement("VAL-CLIENT-ID")
def test_client_id_on_create_is_not_used(client: BooksClient, book: dict[str, Any]) -> None:
    for client_id in (book["id"], 2**62 + 12345):
        response = client.create({**valid_body(), "id": client_id}, rule=None)
        if response.is_success:
            served = last(client).response_json()
            require(
                "VAL-CLIENT-ID",
                not isinstance(served, dict) or served.get("id") != client_id,
                f"the server used the client id {client_id}",
                last(client),
            )
    require(
        "VAL-CLIENT-ID",
        read_book(client, book["id"]) == book,
        "a create with a client id changed another book",
        last(client),
    )


@requirement("VAL-CLIENT-ID")
def test_client_id_on_put_does_not_move_the_book(client: BooksClient) -> None:
    first, second = (create(client, valid_body()) for _ in range(2))
    response = client.put(f"/books/{first['id']}", {**valid_body(), "id": second["id"]})
    exchange = last(client)
    if response.is_success:
        served = exchange.response_json()
        require(
            "VAL-CLIENT-ID",
            isinstance(served, dict) and served.get("id") == first["id"],
            "PUT with a client id changed the book's id",
            exchange,
        )
    require(
        "VAL-CLIENT-ID",
        read_book(client, second["id"]) == second,
        "PUT with a client id overwrote another book",
        last(client),
    )
    read_book(client, first["id"])  # the PUT target is still there (READ-OK)


@requirement("DATA-EXACT")
@pytest.mark.parametrize("text", list(EXACT_STRINGS.values()), ids=list(EXACT_STRINGS))
def test_strings_are_stored_exactly(client: BooksClient, text: str) -> None:
    body = valid_body(title=text, author=text[::-1] or "x", isbn=text[: LIMITS.isbn_max])
    response = client.create(body)
    exchange = last(client)
    require_accepted(client, body, response, exchange, status=201, rule="CREATE-OK")
    book_id = response.json()["id"]
    want = expected(body, book_id)
    check_book("the 201 body", response.json(), want, "DATA-EXACT", exchange)
    check_book("the book read", read_book(client, book_id), want, "DATA-EXACT", last(client))
    body = valid_body(title=text.upper() + " ", author=text)
    response = client.put(f"/books/{book_id}", body, rule="PUT-OK")
    exchange = last(client)
    require_accepted(client, body, response, exchange, status=200, rule="PUT-OK")
    answer = response.json()
    moved = isinstance(answer, dict) and "id" in answer and answer["id"] != book_id
    require("PUT-REPLACE", not moved, f"PUT /books/{book_id} answered another id", exchange)
    check_book("the PUT answer", answer, expected(body, book_id), "DATA-EXACT", exchange)


@requirement("CT-JSON")
@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8"],
)
def test_json_content_types_are_accepted(
    client: BooksClient, book: dict[str, Any], content_type: str
) -> None:
    raw = json.dumps(valid_body()).encode()
    headers = {"content-type": content_type}
    for method, path, status in (("POST", "/books", 201), ("PUT", f"/books/{book['id']}", 200)):
        got = client.request(method, path, content=raw, headers=headers, rule="CT-JSON")
        require(
            "CT-JSON",
            got.status_code == status,
            f"{method} with {content_type!r} got {got.status_code}, want {status}",
            last(client),
        )


@requirement("CT-OTHER")
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_other_content_types_are_accepted_or_415(client: BooksClient, content_type: str) -> None:
    raw = json.dumps(valid_body()).encode()
    headers = {"content-type": content_type}
    response = client.request("POST", "/books", content=raw, headers=headers, rule="CT-OTHER")
    accepted = response.is_success  # whether a 201 is right is CREATE-OK's business
    require(
        "CT-OTHER",
        accepted or response.status_code == 415,
        f"{content_type} got {response.status_code}",
        last(client),
    )


def oversized_body() -> tuple[bytes, str]:
    """A body just over the contract's size limit (its title is far too long) and a recipe that
    rebuilds it."""
    size = LIMITS.body_max_bytes + 1024
    head, tail = b'{"title": "', b'", "author": "a", "year": 1}'
    return head + b"x" * size + tail, f"{head!r} + b'x' * {size} + {tail!r}"


def send_oversized(client: BooksClient, method: str, path: str, rule: str) -> int:
    content, recipe = oversized_body()
    headers = {"content-type": "application/json"}
    return client.request(
        method, path, content=content, headers=headers, body_recipe=recipe, rule=rule
    ).status_code


@requirement("SIZE-NO-5XX")
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_oversized_body_is_no_server_error(
    client: BooksClient, book: dict[str, Any], method: str
) -> None:
    path = "/books" if method == "POST" else f"/books/{book['id']}"
    status = send_oversized(client, method, path, "SIZE-NO-5XX")  # the client blames a 5xx
    require("SIZE-NO-5XX", status < 500, f"a body over the limit got {status}", last(client))
    require(
        "VAL-TEXT",
        not 200 <= status < 300,
        f"a {LIMITS.texts()['body_max']} title was accepted ({status})",
        last(client),
    )


@requirement("SIZE-413")
def test_oversized_body_gets_413(client: BooksClient) -> None:
    status = send_oversized(client, "POST", "/books", "SIZE-413")
    require("SIZE-413", status == 413, f"a body over the limit got {status}", last(client))
