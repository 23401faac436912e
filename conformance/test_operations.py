"""Example tests for the operations on /books and /books/{id}.

Every check names the rule it checks (``require``); a request that must meet a rule says so
(``rule=``), so a 5xx or no answer blames that rule too.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from conformance._cases import DROP, valid_body
from conformance._client import JSON, BooksClient, global_problem, media_type
from conformance._judge import (
    book_id_of,
    check_book,
    check_put,
    create,
    expected,
    last,
    put_book,
    read,
    read_book,
    require_gone,
    shape_problem,
)
from conformance._violation import RequirementViolation, require

requirement = pytest.mark.requirement


def delete(client: BooksClient, book_id: int) -> None:
    """DELETE a book this run created: DELETE-OK wants 204."""
    status = client.delete(f"/books/{book_id}", rule="DELETE-OK").status_code
    require("DELETE-OK", status == 204, f"DELETE of a live book got {status}", last(client))


@requirement("BOOK-SHAPE")
@pytest.mark.parametrize("isbn", ["978-0-441-01359-3", DROP], ids=["with-isbn", "without-isbn"])
def test_books_have_the_contract_shape(client: BooksClient, isbn: Any) -> None:
    book = create(client, valid_body(isbn=isbn))
    served = [("POST", book, last(client))]
    served.append((f"GET /books/{book['id']}", read_book(client, book["id"]), last(client)))
    listed = client.list_books()
    served += [("GET /books", item, last(client)) for item in listed]
    served.append(("PUT", *put_book(client, book["id"], valid_body(isbn=isbn))))
    for where, item, exchange in served:
        problem = shape_problem(item)
        require("BOOK-SHAPE", problem is None, f"{where}: a served book: {problem}", exchange)


@requirement("CREATE-OK")
@pytest.mark.parametrize("isbn", ["978-0-441-01359-3", DROP], ids=["with-isbn", "without-isbn"])
def test_create_returns_201_and_the_book(client: BooksClient, isbn: Any) -> None:
    body = valid_body(isbn=isbn)
    response = client.create(body)
    exchange = last(client)
    status = response.status_code
    require("CREATE-OK", status == 201, f"POST /books got {status}, want 201", exchange)
    created = response.json()
    book_id = book_id_of("CREATE-OK", created, exchange)
    check_book("the 201 body", created, expected(body, book_id), "CREATE-OK", exchange)


@requirement("CREATE-LOCATION")
def test_create_sends_location(client: BooksClient) -> None:
    book = create(client, valid_body())
    exchange = last(client)
    location = exchange.response_headers.get("location")
    require("CREATE-LOCATION", location, "201 without a Location header", exchange)
    assert location is not None
    resolved = urljoin(f"{client.base_url}/books", location)
    require(
        "CREATE-LOCATION",
        urlsplit(resolved).path == urlsplit(f"{client.base_url}/books/{book['id']}").path,
        f"Location {location!r} does not point at /books/{book['id']}",
        exchange,
    )


@requirement("ID-UNIQUE")
def test_ids_are_unique_and_never_reused(client: BooksClient) -> None:
    seen = [create(client, valid_body())["id"] for _ in range(3)]
    require("ID-UNIQUE", len(set(seen)) == 3, f"three creates got ids {seen}", last(client))
    # Delete the newest (the store's likely maximum), then create again: the id must be new.
    delete(client, seen[-1])
    again = create(client, valid_body())["id"]
    require(
        "ID-UNIQUE",
        again not in seen,
        f"id {again} was handed out again after a delete (ids so far {seen})",
        last(client),
    )
    delete(client, seen[0])
    later = create(client, valid_body())["id"]
    require(
        "ID-UNIQUE",
        later not in [*seen, again],
        f"id {later} was reused (ids so far {[*seen, again]})",
        last(client),
    )


@requirement("READ-OK")
def test_read_returns_the_book(client: BooksClient) -> None:
    body = valid_body()
    book = create(client, body)
    response, exchange = read(client, book["id"])
    status = response.status_code
    require("READ-OK", status == 200, f"GET of an existing book got {status}", exchange)
    check_book("the book read", response.json(), expected(body, book["id"]), "READ-OK", exchange)


@requirement("READ-404")
def test_read_missing_book_is_404(client: BooksClient, book: dict[str, Any]) -> None:
    delete(client, book["id"])
    require_gone(client, book)


@requirement("LIST-OK")
def test_list_returns_every_book(client: BooksClient) -> None:
    bodies = [valid_body() for _ in range(3)]
    created = [create(client, body) for body in bodies]
    listed = client.list_books()
    exchange = last(client)
    by_id = {item.get("id"): item for item in listed if isinstance(item, dict)}
    for body, book in zip(bodies, created, strict=True):
        require("LIST-OK", book["id"] in by_id, f"book {book['id']} is missing", exchange)
        want = expected(body, book["id"])
        check_book(f"book {book['id']} in the list", by_id[book["id"]], want, "LIST-OK", exchange)


@requirement("LIST-ORDER")
def test_list_is_ordered_by_id(client: BooksClient) -> None:
    # Titles sort opposite to creation order, so title order and id order disagree.
    for title in ("zz last title", "mm middle title", "aa first title"):
        create(client, valid_body(title=title))
    first = create(client, valid_body())
    put_book(client, first["id"], valid_body(title="updated"))
    ids = [i for i in client.list_ids() if type(i) is int]
    unordered = [(a, b) for a, b in itertools.pairwise(ids) if not a < b]
    require(
        "LIST-ORDER",
        not unordered,
        f"GET /books is not ordered by id ascending: {unordered[:3]} in {ids[-20:]}",
        last(client),
    )


#: Query parameters real frameworks give a meaning to, by family. The contract defines none on
#: ``GET /books``, so each must be ignored: the answer is the same list, as JSON, in id order.
#: (No method overrides such as ``_method=DELETE``: a server that honours one could delete rows
#: the kit did not create.)
QUERY_FAMILIES: dict[str, tuple[str, ...]] = {
    "format": ("format=xml", "_format=html", "format=api", "format=csv", "alt=xml", "output=xml"),
    "jsonp": ("callback=cb", "jsonp=cb", "_callback=cb", "jsonpCallback=cb"),
    "pagination": ("limit=1", "offset=1", "page=2", "per_page=1", "page_size=1",
                   "page%5Bsize%5D=1", "page%5Bnumber%5D=2", "cursor=abc", "%24top=1",
                   "%24skip=1", "size=1", "start=1", "_limit=1", "_page=2", "max_results=1"),
    "sorting": ("sort=-id", "order=desc", "ordering=-id", "sort_by=title", "order_by=title+desc",
                "orderBy=title", "_sort=title&_order=desc", "%24orderby=id+desc",
                "sort=title%3Adesc", "sort%5B%5D=-id"),
    "fields": ("fields=id", "fields%5Bbooks%5D=id", "_fields=id", "select=id", "%24select=id",
               "only=id", "exclude=title", "include=author", "expand=author", "embed=author",
               "envelope=true", "_envelope=true", "pretty=true", "indent=4"),
    "search": ("q=zzz", "search=zzz", "filter=zzz", "filter%5Btitle%5D=zzz",
               "%24filter=title+eq+%27zzz%27", "title=zzz", "author=zzz", "year=1", "id=1",
               "where=%7B%22title%22%3A%22zzz%22%7D", "title__icontains=zzz", "title_like=zzz"),
    "other": ("_=1700000000000", "v=2", "version=2", "api-version=2", "debug=true", "lang=fr",
              "suppress_response_codes=true", "count=true", "%24count=true",
              "include_deleted=true", "unknown=1&unknown=2", "empty=", "flag"),
}  # fmt: skip


@requirement("LIST-QUERY")
@pytest.mark.parametrize("family", list(QUERY_FAMILIES))
def test_list_ignores_query_parameters(client: BooksClient, family: str) -> None:
    """Each query string is ignored: the answer lists this run's books exactly as ``GET /books``
    without it does (a deleted one included, so ``include_deleted`` and the like show)."""
    bodies = [valid_body() for _ in range(3)]
    mine = [book["id"] for book in client.parallel([partial(create, client, b) for b in bodies])]
    delete(client, min(mine))  # (the ids came in any order: the lowest one, deterministically)
    plain = {b.get("id"): b for b in client.list_books() if isinstance(b, dict)}
    baseline = {book_id: book for book_id, book in plain.items() if book_id in mine}
    queries = QUERY_FAMILIES[family]
    answers = client.parallel([partial(client.send, "GET", f"/books?{query}", check=False,
                                       rule="LIST-QUERY") for query in queries])  # fmt: skip
    for query, (response, exchange) in zip(queries, answers, strict=True):
        path = f"/books?{query}"
        problem = global_problem(exchange)
        if problem is not None and problem[0] == "NO-5XX":
            raise RequirementViolation("LIST-QUERY", problem[1], exchange, also=("NO-5XX",))
        status, kind = response.status_code, media_type(response.headers)
        require("LIST-QUERY", status == 200, f"GET {path} got {status}, want 200", exchange)
        require(
            "LIST-QUERY",
            kind == JSON,
            f"GET {path} answered {kind or 'no'} content type, not the JSON list",
            exchange,
        )
        books = exchange.response_json()
        require("LIST-QUERY", isinstance(books, list), f"GET {path} is not a JSON array", exchange)
        by_id = {b.get("id"): b for b in books if isinstance(b, dict)}
        listed = {book_id: book for book_id, book in by_id.items() if book_id in mine}
        require(
            "LIST-QUERY",
            listed == baseline,
            f"GET {path} lists this run's books "
            f"{list(listed)} as {list(listed.values())[:1]!a}, without the query "
            f"{list(baseline)} as {list(baseline.values())[:1]!a}"[:500],
            exchange,
        )
        order = [b.get("id") for b in books if isinstance(b, dict) and b.get("id") in baseline]
        require(
            "LIST-QUERY",
            order == list(baseline),
            f"GET {path} lists this run's books in "
            f"the order {order}, without the query {list(baseline)}",
            exchange,
        )


@requirement("PUT-OK", "PUT-REPLACE")
def test_put_returns_200_and_the_replaced_book(client: BooksClient, book: dict[str, Any]) -> None:
    body = valid_body(title="Replaced title", author="Replaced author", year=2001, isbn="1")
    answer, exchange = put_book(client, book["id"], body)  # (a changed id is PUT-REPLACE's)
    want = expected(body, book["id"])
    check_book("the PUT answer", answer, want, "PUT-OK", exchange, before=book, stale="PUT-OK")


@requirement("PUT-REPLACE")
def test_put_is_a_full_replacement(client: BooksClient, book: dict[str, Any]) -> None:
    body = valid_body(isbn=DROP)  # no isbn member: it must become null
    answer = put_book(client, book["id"], body)
    stored = read_book(client, book["id"])
    check_put(answer, (stored, last(client)), expected(body, book["id"]), book)


@requirement("PUT-404")
def test_put_never_creates(client: BooksClient, book: dict[str, Any]) -> None:
    delete(client, book["id"])
    require_gone(client, book)
    require(
        "DELETE-GONE",
        book["id"] not in client.list_ids(),
        "a deleted book is still listed",
        last(client),
    )
    response = client.put(f"/books/{book['id']}", valid_body(), rule="PUT-404")
    exchange = last(client)
    status = response.status_code
    require("PUT-404", status == 404, f"PUT to a deleted book got {status}, want 404", exchange)
    back = client.get(f"/books/{book['id']}", rule="READ-404")
    require("PUT-404", back.status_code == 404, "the book is back after a 404 PUT", last(client))
    require(
        "PUT-404",
        book["id"] not in client.list_ids(),
        "a 404 PUT created a listed book",
        last(client),
    )


@requirement("DELETE-OK")
def test_delete_returns_204_without_body(client: BooksClient, book: dict[str, Any]) -> None:
    response = client.delete(f"/books/{book['id']}", rule="DELETE-OK")
    exchange = last(client)
    require(
        "DELETE-OK", response.status_code == 204, f"DELETE got {response.status_code}", exchange
    )
    require(
        "DELETE-OK",
        response.content == b"",
        f"204 carries a body: {response.content[:200]!r}",
        exchange,
    )


@requirement("DELETE-404")
def test_delete_missing_book_is_404(client: BooksClient, book: dict[str, Any]) -> None:
    delete(client, book["id"])
    require_gone(client, book)
    response = client.delete(f"/books/{book['id']}", rule="DELETE-404")
    status = response.status_code
    require("DELETE-404", status == 404, f"DELETE of a deleted book got {status}", last(client))


@requirement("DELETE-GONE")
def test_deleted_book_is_gone(client: BooksClient, book: dict[str, Any]) -> None:
    delete(client, book["id"])
    require_gone(client, book)
    listed = client.list_ids()
    require(
        "DELETE-GONE",
        book["id"] not in listed,
        f"deleted book {book['id']} is still listed",
        last(client),
    )
    second = client.delete(f"/books/{book['id']}", rule="DELETE-404")
    status = second.status_code
    require("DELETE-404", status == 404, f"a second DELETE got {status}", last(client))


@requirement("READ-YOUR-WRITES")
def test_reads_reflect_the_last_write(client: BooksClient) -> None:
    for round_ in range(3):
        body = valid_body(year=2000 + round_)
        book_id = create(client, body)["id"]
        check_book(
            "GET after POST",
            read_book(client, book_id),
            expected(body, book_id),
            "READ-YOUR-WRITES",
            last(client),
        )
        listed = {b.get("id"): b for b in client.list_books() if isinstance(b, dict)}
        check_book(
            "the list after POST",
            listed.get(book_id),
            expected(body, book_id),
            "READ-YOUR-WRITES",
            last(client),
        )
        before, body = expected(body, book_id), valid_body(title=f"rewritten {round_}", isbn=DROP)
        answer = put_book(client, book_id, body)
        stored = read_book(client, book_id)  # a stale answer and read: PUT-REPLACE, not this
        check_put(answer, (stored, last(client)), expected(body, book_id), before)
        listed = {b.get("id"): b for b in client.list_books() if isinstance(b, dict)}
        check_book(
            "the list after PUT",
            listed.get(book_id),
            expected(body, book_id),
            "READ-YOUR-WRITES",
            last(client),
            before=before,
            stale="READ-YOUR-WRITES",
        )
        delete(client, book_id)
        require_gone(client, before)


@requirement("SUCCESS-JSON")
def test_success_bodies_are_json(client: BooksClient) -> None:
    # The client checks every 2xx for application/json and every 204 for an empty body (and
    # blames SUCCESS-JSON itself); this test makes sure each success path is exercised once.
    book = create(client, valid_body())
    read_book(client, book["id"])
    client.list_books()
    put_book(client, book["id"], valid_body())
    delete(client, book["id"])
