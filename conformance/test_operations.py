"""Example tests for the operations on /books and /books/{id}."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from conformance._cases import valid_body
from conformance._client import MAX_ID, BooksClient, require

requirement = pytest.mark.requirement
MEMBERS = ("id", "title", "author", "year", "isbn")


def expected(body: dict[str, Any], book_id: int) -> dict[str, Any]:
    """What the server must return for ``body`` stored under ``book_id``."""
    return {"id": book_id, "isbn": None, **body}


def same_book(served: Any, want: dict[str, Any]) -> bool:
    """Do the contract members of ``served`` equal ``want`` (extra members are allowed)?"""
    if not isinstance(served, dict):
        return False
    return all(
        k in served and served[k] == want[k] and type(served[k]) is type(want[k]) for k in MEMBERS
    )


def get_book(client: BooksClient, book_id: int) -> Any:
    return client.get(f"/books/{book_id}").json()


@requirement("BOOK-SHAPE")
@pytest.mark.parametrize("isbn", ["978-0-441-01359-3", None], ids=["with-isbn", "without-isbn"])
def test_books_have_the_contract_shape(client: BooksClient, isbn: str | None) -> None:
    book = client.create(valid_body(isbn=isbn)).json()
    listed = client.get("/books").json()
    read = get_book(client, book["id"])
    replaced = client.put(f"/books/{book['id']}", valid_body(isbn=isbn)).json()
    served_books = [("POST", book), ("GET /books/{id}", read), ("PUT", replaced)]
    for where, served in served_books + [("GET /books", item) for item in listed]:
        require("BOOK-SHAPE", isinstance(served, dict), f"{where}: a book is not a JSON object")
        missing = [m for m in MEMBERS if m not in served]
        require("BOOK-SHAPE", not missing, f"{where}: book lacks {missing}: {served}")
        book_id = served["id"]
        require(
            "BOOK-SHAPE",
            type(book_id) is int and 1 <= book_id <= MAX_ID,
            f"{where}: id {book_id!r} is not an integer in 1..2^63-1",
        )
        require("BOOK-SHAPE", type(served["year"]) is int, f"{where}: year is not an integer")
        for member in ("title", "author"):
            require("BOOK-SHAPE", type(served[member]) is str, f"{where}: {member} is not a string")
        require(
            "BOOK-SHAPE",
            served["isbn"] is None or type(served["isbn"]) is str,
            f"{where}: isbn is neither null nor a string",
        )


@requirement("CREATE-OK")
@pytest.mark.parametrize("isbn", ["978-0-441-01359-3", None], ids=["with-isbn", "without-isbn"])
def test_create_returns_201_and_the_book(client: BooksClient, isbn: str | None) -> None:
    body = valid_body(isbn=isbn)
    response = client.create(body)
    assert response.status_code == 201, f"POST /books got {response.status_code}, want 201"
    created = response.json()
    assert isinstance(created, dict) and type(created.get("id")) is int, f"no id in {created}"
    assert same_book(created, expected(body, created["id"])), f"sent {body}, got {created}"


@requirement("CREATE-LOCATION")
def test_create_sends_location(client: BooksClient) -> None:
    response = client.create(valid_body())
    location = response.headers.get("location")
    assert location, "201 without a Location header"
    book_url = f"{client.base_url}/books/{response.json()['id']}"
    resolved = urljoin(f"{client.base_url}/books", location)
    assert urlsplit(resolved).path == urlsplit(book_url).path, (
        f"Location {location!r} does not point at /books/{response.json()['id']}"
    )


@requirement("ID-UNIQUE")
def test_ids_are_unique_and_never_reused(client: BooksClient) -> None:
    seen = [client.create(valid_body()).json()["id"] for _ in range(3)]
    assert len(set(seen)) == 3, f"three creates got ids {seen}"
    # Delete the newest (the store's likely maximum), then create again: the id must be new.
    client.delete(f"/books/{seen[-1]}")
    again = client.create(valid_body()).json()["id"]
    assert again not in seen, f"id {again} was handed out again after a delete (ids so far {seen})"
    client.delete(f"/books/{seen[0]}")
    later = client.create(valid_body()).json()["id"]
    assert later not in seen + [again], f"id {later} was reused (ids so far {seen + [again]})"


@requirement("READ-OK")
def test_read_returns_the_book(client: BooksClient) -> None:
    body = valid_body()
    created = client.create(body).json()
    response = client.get(f"/books/{created['id']}")
    assert response.status_code == 200, f"GET an existing book got {response.status_code}"
    assert same_book(response.json(), expected(body, created["id"])), response.json()


@requirement("READ-404")
def test_read_missing_book_is_404(client: BooksClient, book: dict[str, Any]) -> None:
    client.delete(f"/books/{book['id']}")
    response = client.get(f"/books/{book['id']}")
    assert response.status_code == 404, f"GET a deleted book got {response.status_code}"


@requirement("LIST-OK")
def test_list_returns_every_book(client: BooksClient) -> None:
    bodies = [valid_body() for _ in range(3)]
    created = [client.create(body).json() for body in bodies]
    response = client.get("/books")
    assert response.status_code == 200, f"GET /books got {response.status_code}"
    listed = response.json()
    assert isinstance(listed, list), f"GET /books is not a JSON array: {listed!r}"
    by_id = {item.get("id"): item for item in listed if isinstance(item, dict)}
    for body, book in zip(bodies, created, strict=True):
        assert book["id"] in by_id, f"book {book['id']} is missing from the list"
        assert same_book(by_id[book["id"]], expected(body, book["id"])), by_id[book["id"]]


@requirement("LIST-ORDER")
def test_list_is_ordered_by_id(client: BooksClient) -> None:
    # Titles sort opposite to creation order, so title order and id order disagree.
    for title in ("zz last title", "mm middle title", "aa first title"):
        client.create(valid_body(title=title))
    first = client.create(valid_body()).json()
    client.put(f"/books/{first['id']}", valid_body(title="updated"))
    ids = client.list_ids()
    assert ids == sorted(ids), f"GET /books is not ordered by id ascending: {ids}"


@requirement("LIST-QUERY")
def test_list_ignores_unknown_query_parameters(client: BooksClient) -> None:
    mine = [client.create(valid_body()).json()["id"] for _ in range(3)]
    query = "?limit=1&offset=1&page=2&per_page=1&sort=-id&order=desc&q=zzz&title=nothing"
    response = client.get("/books" + query)
    assert response.status_code == 200, f"GET /books{query} got {response.status_code}"
    listed = [b["id"] for b in response.json() if isinstance(b, dict)]
    assert all(i in listed for i in mine), f"books {mine} missing from GET /books{query}"
    assert listed == sorted(listed), f"GET /books{query} changed the order: {listed}"


@requirement("PUT-OK")
def test_put_returns_200_and_the_replaced_book(client: BooksClient, book: dict[str, Any]) -> None:
    body = valid_body(title="Replaced title", author="Replaced author", year=2001, isbn="1")
    response = client.put(f"/books/{book['id']}", body)
    assert response.status_code == 200, f"PUT an existing book got {response.status_code}"
    assert same_book(response.json(), expected(body, book["id"])), response.json()


@requirement("PUT-REPLACE")
def test_put_is_a_full_replacement(client: BooksClient, book: dict[str, Any]) -> None:
    assert book["isbn"] is not None
    body = valid_body(isbn=None)  # no isbn member: it must become null
    served = client.put(f"/books/{book['id']}", body).json()
    want = expected(body, book["id"])
    assert served.get("id") == book["id"], f"PUT changed the id: {book['id']} -> {served.get('id')}"
    assert served.get("isbn") is None, f"absent isbn did not become null: {served}"
    stored = get_book(client, book["id"])
    assert same_book(stored, want), f"after PUT {body} the book is {stored}"


@requirement("PUT-404")
def test_put_never_creates(client: BooksClient, book: dict[str, Any]) -> None:
    client.delete(f"/books/{book['id']}")
    response = client.put(f"/books/{book['id']}", valid_body())
    assert response.status_code == 404, f"PUT a deleted book got {response.status_code}"
    assert client.get(f"/books/{book['id']}").status_code == 404, "PUT brought the book back"
    assert book["id"] not in client.list_ids(), "PUT to a missing id created a book"


@requirement("DELETE-OK")
def test_delete_returns_204_without_body(client: BooksClient, book: dict[str, Any]) -> None:
    response = client.delete(f"/books/{book['id']}")
    assert response.status_code == 204, f"DELETE got {response.status_code}"
    assert response.content == b"", f"204 carries a body: {response.content[:200]!r}"


@requirement("DELETE-404")
def test_delete_missing_book_is_404(client: BooksClient, book: dict[str, Any]) -> None:
    client.delete(f"/books/{book['id']}")
    response = client.delete(f"/books/{book['id']}")
    assert response.status_code == 404, f"DELETE of a deleted book got {response.status_code}"


@requirement("DELETE-GONE")
def test_deleted_book_is_gone(client: BooksClient, book: dict[str, Any]) -> None:
    client.delete(f"/books/{book['id']}")
    assert client.get(f"/books/{book['id']}").status_code == 404, "GET after DELETE is not 404"
    assert book["id"] not in client.list_ids(), "the deleted book is still listed"
    second = client.delete(f"/books/{book['id']}")
    assert second.status_code == 404, f"a second DELETE got {second.status_code}"


@requirement("READ-YOUR-WRITES")
def test_reads_reflect_the_last_write(client: BooksClient) -> None:
    for round_ in range(3):
        body = valid_body(year=2000 + round_)
        book_id = client.create(body).json()["id"]
        assert same_book(get_book(client, book_id), expected(body, book_id)), "create not seen"
        listed = {b["id"]: b for b in client.get("/books").json()}
        assert same_book(listed.get(book_id), expected(body, book_id)), "create not listed"
        body = valid_body(title=f"rewritten {round_}", isbn=None)
        client.put(f"/books/{book_id}", body)
        assert same_book(get_book(client, book_id), expected(body, book_id)), "PUT not seen"
        listed = {b["id"]: b for b in client.get("/books").json()}
        assert same_book(listed.get(book_id), expected(body, book_id)), "PUT not listed"
        client.delete(f"/books/{book_id}")
        assert client.get(f"/books/{book_id}").status_code == 404, "DELETE not seen"


@requirement("SUCCESS-JSON")
def test_success_bodies_are_json(client: BooksClient) -> None:
    # The client checks every 2xx for application/json and every 204 for an empty body;
    # this test makes sure each success path is exercised at least once.
    created = client.create(valid_body())
    responses = [
        created,
        client.get("/books"),
        client.get(f"/books/{created.json()['id']}"),
        client.put(f"/books/{created.json()['id']}", valid_body()),
        client.delete(f"/books/{created.json()['id']}"),
    ]
    assert all(r.is_success for r in responses), [r.status_code for r in responses]
