"""The mutant zoo: realistic bugs, each breaking one rule of Books API v1.

A mutant is data (:class:`Mutant`: name, the requirement ID it breaks, a description) plus its
code: a subclass of the correct :class:`~.app.BooksApp` that overrides the seam its bug lives in
(a method, a limit or the store class). The correct code path has no mutant branches at all.

Each mutant also carries a *probe*: a small async check, run with an ``httpx.AsyncClient`` whose
base URL is the variant's root, that passes on the correct app and fails (``AssertionError``) on the
mutant. Probes are the zoo's own smoke test, not the conformance suite.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import struct
import threading
import unicodedata
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

import httpx

from .app import (
    INT32_MIN,
    JSON_TYPE,
    MEMBERS,
    Book,
    BooksApp,
    Fields,
    HTTPError,
    Request,
    Response,
    Store,
    bad_request,
    not_found,
)

Probe = Callable[[httpx.AsyncClient], Awaitable[None]]

#: ``also`` for mutants that accept an invalid body: the contract's generic rules for invalid
#: bodies (400/422, store unchanged) are broken along with the specific one.
ACCEPTS_INVALID = ("INVALID-4XX", "INVALID-UNCHANGED")  # accepted (not 400/422) and stored
#: ``also`` wildcard: every requirement may fail.
ANY = ("*",)


@dataclass(frozen=True)
class Mutant:
    """One bug. ``breaks`` is the most specific requirement ID it violates; ``also`` lists the
    other rules it genuinely breaks too (the self-check fails if the kit blames any other MUST
    rule), ``("*",)`` meaning any: a 5xx mutant breaks NO-5XX along with its own rule, a mutant
    that accepts an invalid body breaks INVALID-4XX and INVALID-UNCHANGED (the body was not
    rejected, and it was stored); anything else is explained in the class docstring."""

    name: str
    breaks: str
    description: str
    app_class: type[BooksApp]
    probe: Probe = field(repr=False)
    also: tuple[str, ...] = ()
    needs_server: bool = False  # the probe needs real concurrency (a uvicorn server)
    #: The one layer of the kit that must catch it, when the bug is there to prove that layer
    #: earns its keep ("examples", "properties", "state machine", "schemathesis", "concurrency").
    only: str | None = None
    #: For a race (``needs_server``): how many runs a check may take to see it once. A hook in
    #: the mutant makes any overlap of the burst show the bug, but not the overlap itself; N is
    #: chosen from the measured per-run miss rate so that P(all N miss) < 1e-6
    #: (docs/race-rates.md, benchmarks/race_rates.py). Every other mutant misbehaves every run.
    attempts: int = 1

    @property
    def requirements(self) -> tuple[str, ...]:
        return (self.breaks, *self.also)


_registered: list[Mutant] = []


def mutant(
    name: str,
    breaks: str,
    description: str,
    probe: Probe,
    *,
    also: tuple[str, ...] = (),
    needs_server: bool = False,
    only: str | None = None,
    attempts: int = 1,
) -> Callable[[type[BooksApp]], type[BooksApp]]:
    """Class decorator: register the decorated ``BooksApp`` subclass as a mutant."""

    def register(app_class: type[BooksApp]) -> type[BooksApp]:
        mutant = Mutant(
            name, breaks, description, app_class, probe, also, needs_server, only, attempts
        )
        _registered.append(mutant)
        return app_class

    return register


# ================================================================================================
# Probes
# ================================================================================================
DROP: Any = object()
BAD = (400, 422)


def book_body(**changes: Any) -> dict[str, Any]:
    """A valid request body with ``changes`` applied (a value of ``DROP`` removes the member)."""
    body: dict[str, Any] = {  # lower-case ASCII: unchanged by the DATA-EXACT mutants
        "title": "dune",
        "author": "frank herbert",
        "year": 1965,
        "isbn": "978-0441013593",
    }
    for name, value in changes.items():
        if value is DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def expected(body: dict[str, Any], book_id: int) -> dict[str, Any]:
    return {"id": book_id, "isbn": None, **body}


def media_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"not JSON: {response.status_code} {response.text[:200]!r}") from None


def where(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url.path} -> {response.status_code} {response.text[:200]!r}"


async def create(c: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """Create a book for a probe's setup (any 2xx will do) and return it."""
    response = await c.post("/books", json=book_body(**changes))
    assert response.is_success, where(response)
    book: dict[str, Any] = json_of(response)
    return book


async def read(c: httpx.AsyncClient, book_id: int) -> Any:
    response = await c.get(f"/books/{book_id}")
    assert response.is_success, where(response)
    return json_of(response)


async def listed_ids(c: httpx.AsyncClient, query: str = "") -> list[Any]:
    response = await c.get("/books" + query)
    assert response.status_code == 200, where(response)
    books = json_of(response)
    assert isinstance(books, list), where(response)
    return [book.get("id") for book in books if isinstance(book, dict)]


async def send_raw(
    c: httpx.AsyncClient, content: bytes, content_type: str = JSON_TYPE, path: str = "/books"
) -> httpx.Response:
    return await c.post(path, content=content, headers={"content-type": content_type})


def rejects(**changes: Any) -> Probe:
    """POST a body with ``changes``: it must get 400/422 and not be stored."""

    async def probe(c: httpx.AsyncClient) -> None:
        marker = f"rejected {sorted(changes)}"
        body = book_body(**{"author": marker, **changes})
        response = await c.post(
            "/books", content=json.dumps(body).encode(), headers={"content-type": JSON_TYPE}
        )
        assert response.status_code in BAD, where(response)

    return probe


def rejects_raw(content: bytes) -> Probe:
    async def probe(c: httpx.AsyncClient) -> None:
        response = await send_raw(c, content)
        assert response.status_code in BAD, where(response)

    return probe


def stores_exactly(**changes: Any) -> Probe:
    """POST a valid body: the 201 and a later GET must return it exactly."""

    async def probe(c: httpx.AsyncClient) -> None:
        body = book_body(**changes)
        response = await c.post("/books", json=body)
        assert response.is_success, where(response)
        created = json_of(response)
        want = expected(body, created.get("id"))
        assert created == want, f"sent {body}, POST answered {created}"
        stored = await read(c, created["id"])
        assert stored == want, f"sent {body}, stored {stored}"

    return probe


async def probe_create_201(c: httpx.AsyncClient) -> None:
    response = await c.post("/books", json=book_body())
    assert response.status_code == 201, where(response)


async def probe_delete_204(c: httpx.AsyncClient) -> None:
    book = await create(c)
    response = await c.delete(f"/books/{book['id']}")
    assert response.status_code == 204, where(response)
    assert response.content == b"", where(response)


async def probe_delete_missing_404(c: httpx.AsyncClient) -> None:
    book = await create(c)
    await c.delete(f"/books/{book['id']}")
    response = await c.delete(f"/books/{book['id']}")
    assert response.status_code == 404, where(response)


async def probe_ids_not_reused(c: httpx.AsyncClient) -> None:
    first, newest = await create(c), await create(c)
    await c.delete(f"/books/{newest['id']}")
    again = await create(c)
    assert again["id"] not in (first["id"], newest["id"]), f"id {again['id']} handed out twice"


async def probe_deleted_is_gone(c: httpx.AsyncClient) -> None:
    book = await create(c)
    response = await c.delete(f"/books/{book['id']}")
    assert response.is_success, where(response)
    assert (await c.get(f"/books/{book['id']}")).status_code == 404, "GET after DELETE"
    assert book["id"] not in await listed_ids(c), "the deleted book is still listed"
    assert (await c.delete(f"/books/{book['id']}")).status_code == 404, "second DELETE"


async def probe_put_replaces_isbn(c: httpx.AsyncClient) -> None:
    book = await create(c, isbn="978-0441013593")
    response = await c.put(f"/books/{book['id']}", json=book_body(isbn=DROP))
    assert response.is_success, where(response)
    stored = await read(c, book["id"])
    assert "isbn" not in stored or stored["isbn"] is None, f"absent isbn kept: {stored}"


async def probe_put_never_creates(c: httpx.AsyncClient) -> None:
    book = await create(c)
    await c.delete(f"/books/{book['id']}")
    response = await c.put(f"/books/{book['id']}", json=book_body())
    assert response.status_code == 404, where(response)


async def probe_put_answers_new_book(c: httpx.AsyncClient) -> None:
    book = await create(c)
    body = book_body(title="Children of Dune", year=1976)
    response = await c.put(f"/books/{book['id']}", json=body)
    assert response.status_code == 200, where(response)
    assert json_of(response) == expected(body, book["id"]), f"PUT answered {response.json()}"


async def probe_put_keeps_id(c: httpx.AsyncClient) -> None:
    book = await create(c)
    body = book_body(title="Dune Messiah")
    response = await c.put(f"/books/{book['id']}", json=body)
    assert response.status_code == 200, where(response)
    assert json_of(response).get("id") == book["id"], f"PUT changed the id: {response.json()}"
    assert await read(c, book["id"]) == expected(body, book["id"])


async def probe_client_id_ignored(c: httpx.AsyncClient) -> None:
    book = await create(c)
    for client_id in (book["id"], 2**62 + 12345):
        response = await c.post("/books", json={**book_body(title="with id"), "id": client_id})
        if response.is_success:
            assert json_of(response).get("id") != client_id, f"client id {client_id} was used"
        else:
            assert response.status_code in BAD, where(response)
    assert await read(c, book["id"]) == book, "a create with a client id changed another book"


async def probe_unknown_members(c: httpx.AsyncClient) -> None:
    response = await c.post("/books", json={**book_body(), "genre": "sf", "tags": ["a"]})
    if not response.is_success:
        assert response.status_code in BAD, where(response)
        return
    for served in (json_of(response), await read(c, response.json()["id"])):
        assert not {"genre", "tags"} & set(served), f"unknown members stored/echoed: {served}"


async def probe_rejected_leaves_store(c: httpx.AsyncClient) -> None:
    marker = "must not be stored"
    response = await c.post("/books", json=book_body(title=marker, isbn="1" * 33))
    assert response.status_code in BAD, where(response)
    listed = json_of(await c.get("/books"))
    assert not [b for b in listed if b.get("title") == marker], "a rejected POST stored a book"
    book = await create(c)
    response = await c.put(f"/books/{book['id']}", json=book_body(title=marker, isbn="1" * 33))
    assert response.status_code in BAD, where(response)
    assert await read(c, book["id"]) == book, "a rejected PUT changed the book"


async def probe_list_ordered(c: httpx.AsyncClient) -> None:
    for title in ("zz", "mm", "aa"):
        await create(c, title=title)
    ids = await listed_ids(c)
    assert len(ids) >= 2 and ids == sorted(ids), f"GET /books is not ordered by id: {ids}"


async def probe_list_complete(c: httpx.AsyncClient) -> None:
    books = [await create(c, title="first"), await create(c, title="second")]
    response = await c.get("/books")
    assert response.status_code == 200, where(response)
    listed = {b["id"]: b for b in json_of(response)}
    for book in books:
        assert listed.get(book["id"]) == book, f"book {book['id']} missing or changed in the list"


async def probe_list_query_ignored(c: httpx.AsyncClient) -> None:
    await create(c)
    await create(c)
    plain, queried = await listed_ids(c), await listed_ids(c, "?limit=1&sort=-id&x=1")
    assert queried == plain, f"the query changed the list: {plain} -> {queried}"


def probe_error_is_json_object(trigger: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Probe:
    """The 4xx that ``trigger`` provokes is a JSON object (a non-4xx is another rule's business)."""

    async def probe(c: httpx.AsyncClient) -> None:
        response: httpx.Response = await trigger(c)
        if not 400 <= response.status_code < 500:
            return
        assert media_type(response) in (JSON_TYPE, "application/problem+json"), where(response)
        assert isinstance(json_of(response), dict), where(response)

    return probe


async def _get_missing(c: httpx.AsyncClient) -> httpx.Response:
    book = await create(c)
    await c.delete(f"/books/{book['id']}")
    return await c.get(f"/books/{book['id']}")


async def _post_invalid(c: httpx.AsyncClient) -> httpx.Response:
    return await c.post("/books", json=book_body(title=""))


async def probe_bad_path_ids(c: httpx.AsyncClient) -> None:
    book = await create(c)
    for bad in ("abc", "0", f"-{book['id']}", f"{book['id']}.5", str(2**64), str(2**63)):
        response = await c.get(f"/books/{bad}")
        assert response.status_code in (400, 404, 422), where(response)


async def probe_method_4xx(c: httpx.AsyncClient) -> None:
    response = await c.patch("/books", json=book_body())
    assert 400 <= response.status_code < 500, where(response)


async def probe_method_405_allow(c: httpx.AsyncClient) -> None:
    book = await create(c)
    for path in ("/books", f"/books/{book['id']}"):
        response = await c.patch(path, json=book_body())
        assert response.status_code == 405, where(response)
        assert response.headers.get("allow"), f"405 without Allow: {where(response)}"


def oversized() -> bytes:
    return b'{"title": "' + b"x" * (1024 * 1024 + 1024) + b'", "author": "a", "year": 1}'


async def probe_oversize_no_5xx(c: httpx.AsyncClient) -> None:
    response = await send_raw(c, oversized())
    assert response.status_code < 500, where(response)


async def probe_oversize_413(c: httpx.AsyncClient) -> None:
    response = await send_raw(c, oversized())
    assert response.status_code == 413, where(response)


async def probe_json_charset_accepted(c: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/json;charset=UTF-8"):
        response = await send_raw(c, json.dumps(book_body()).encode(), content_type)
        assert response.is_success, where(response)


async def probe_other_type_accepted_or_415(c: httpx.AsyncClient) -> None:
    response = await send_raw(c, json.dumps(book_body()).encode(), "text/plain")
    assert response.is_success or response.status_code == 415, where(response)


async def probe_success_json(c: httpx.AsyncClient) -> None:
    book = await create(c)
    item = f"/books/{book['id']}"
    for response in (await c.get("/books"), await c.get(item), await c.put(item, json=book_body())):
        assert response.is_success, where(response)
        assert media_type(response) == JSON_TYPE, where(response)


async def probe_book_shape(c: httpx.AsyncClient) -> None:
    response = await c.post("/books", json=book_body(isbn=DROP))
    served = json_of(response)
    assert response.is_success, where(response)
    listed = [b for b in json_of(await c.get("/books")) if b.get("id") == served.get("id")]
    for book in (served, await read(c, served["id"]), *listed):
        assert set(book) >= {"id", *MEMBERS}, f"a book lacks members: {book}"


async def probe_read_404(c: httpx.AsyncClient) -> None:
    response = await _get_missing(c)
    assert response.status_code == 404, where(response)


async def probe_read_200(c: httpx.AsyncClient) -> None:
    book = await create(c)
    response = await c.get(f"/books/{book['id']}")
    assert response.status_code == 200, where(response)
    assert json_of(response) == book, where(response)


async def probe_no_5xx(c: httpx.AsyncClient) -> None:
    for response in (await c.get("/books"), await c.post("/books", json=book_body())):
        assert response.status_code < 500, where(response)


async def probe_read_your_writes(c: httpx.AsyncClient) -> None:
    book = await create(c)
    body = book_body(title="rewritten", isbn=DROP)
    assert (await c.put(f"/books/{book['id']}", json=body)).is_success
    assert await read(c, book["id"]) == expected(body, book["id"]), "GET after PUT is stale"


# -- concurrency probes: 32 requests released together by a barrier, one thread each ------------
WIDTH = 32


def _together_sync(base_url: str, calls: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls), timeout=30)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with (
        httpx.Client(base_url=base_url, limits=limits, timeout=30) as client,
        ThreadPoolExecutor(max_workers=len(calls)) as pool,
    ):

        def run(call: tuple[str, str, Any]) -> httpx.Response:
            method, path, body = call
            barrier.wait()
            return client.request(method, path, json=body)

        return [future.result() for future in [pool.submit(run, call) for call in calls]]


async def together(c: httpx.AsyncClient, calls: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Send ``calls`` (method, path, json body) at once to the real server behind ``c``."""
    return await asyncio.to_thread(_together_sync, str(c.base_url), calls)


def _numbered(index: int) -> dict[str, Any]:
    return book_body(
        title=f"title {index}", author=f"author {index}", year=index, isbn=f"isbn {index}"
    )


async def probe_concurrent_creates(c: httpx.AsyncClient) -> None:
    bodies = [_numbered(i) for i in range(WIDTH)]
    responses = await together(c, [("POST", "/books", body) for body in bodies])
    assert [r.status_code for r in responses] == [201] * WIDTH, [r.status_code for r in responses]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == WIDTH, f"concurrent creates shared ids: {sorted(ids)}"
    listed = {b["id"]: b for b in json_of(await c.get("/books"))}
    for body, book_id in zip(bodies, ids, strict=True):
        assert listed.get(book_id) == expected(body, book_id), f"book {book_id} not listed as sent"


async def probe_concurrent_puts(c: httpx.AsyncClient) -> None:
    book = await create(c)
    bodies = [_numbered(i) for i in range(WIDTH)]
    responses = await together(c, [("PUT", f"/books/{book['id']}", body) for body in bodies])
    assert {r.status_code for r in responses} == {200}, [r.status_code for r in responses]
    final = await read(c, book["id"])
    assert final in [expected(body, book["id"]) for body in bodies], f"mixed state: {final}"


async def probe_delete_racing_reads(c: httpx.AsyncClient) -> None:
    item = f"/books/{(await create(c))['id']}"
    responses = await together(c, [("DELETE", item, None)] + [("GET", item, None)] * (WIDTH - 1))
    assert responses[0].status_code == 204, where(responses[0])
    statuses = sorted({r.status_code for r in responses[1:]})
    assert set(statuses) <= {200, 404}, f"GETs racing a DELETE got {statuses}"


# ================================================================================================
# Mutants
# ================================================================================================
async def round_trip(seconds: float) -> None:
    """Stand-in for an awaited call to a remote store (what opens the race windows below)."""
    await asyncio.sleep(seconds)


# -- status codes and bodies of the operations ---------------------------------------------------
@mutant(
    "create-200",
    "CREATE-OK",
    "POST /books answers 200 instead of 201.",
    probe_create_201,
)
class Create200(BooksApp):
    async def create_book(self, request: Request) -> Response:
        response = await super().create_book(request)
        response.status = 200
        return response


@mutant(
    "delete-200-body",
    "DELETE-OK",
    "DELETE answers 200 with the deleted book instead of an empty 204.",
    probe_delete_204,
)
class Delete200WithBody(BooksApp):
    async def delete_book(self, request: Request, book_id: int) -> Response:
        book = await self.store.get(book_id)
        if book is None or not await self.store.delete(book_id):
            raise not_found(book_id)
        return self.respond(200, self.render(book))


@mutant(
    "delete-missing-204",
    "DELETE-404",
    "DELETE of a missing book answers 204 ('idempotent delete') instead of 404.",
    probe_delete_missing_404,
    also=("DELETE-GONE",),  # DELETE-GONE's text: a second DELETE answers 404
)
class DeleteMissing204(BooksApp):
    async def delete_book(self, request: Request, book_id: int) -> Response:
        await self.store.delete(book_id)
        return Response(204)


@mutant(
    "read-203-from-cache",
    "READ-OK",
    "GET /books/{id} answers 203 Non-Authoritative Information instead of 200.",
    probe_read_200,
)
class Read203(BooksApp):
    async def read_book(self, request: Request, book_id: int) -> Response:
        response = await super().read_book(request, book_id)
        response.status = 203
        return response


@mutant(
    "missing-book-null",
    "READ-404",
    "GET of a missing book answers 200 with `null`.",
    probe_read_404,
    also=("DELETE-GONE",),  # DELETE-GONE's text: GET after a delete answers 404
)
class MissingBookNull(BooksApp):
    async def read_book(self, request: Request, book_id: int) -> Response:
        book = await self.store.get(book_id)
        return self.respond(200, None if book is None else self.render(book))


@mutant(
    "put-returns-old",
    "PUT-OK",
    "PUT stores the new book but answers with the book as it was before the update.",
    probe_put_answers_new_book,
)
class PutReturnsOld(BooksApp):
    async def replace_book(self, request: Request, book_id: int) -> Response:
        fields = self.validate(await self.read_json(request))
        old = await self.store.get(book_id)
        if old is None or await self.store.replace(book_id, fields) is None:
            raise not_found(book_id)
        return self.respond(200, self.render(old))


@mutant(
    "read-text-plain",
    "SUCCESS-JSON",
    "GET /books/{id} sends its JSON body as text/plain.",
    probe_success_json,
)
class ReadTextPlain(BooksApp):
    async def read_book(self, request: Request, book_id: int) -> Response:
        response = await super().read_book(request, book_id)
        response.content_type = "text/plain; charset=utf-8"
        return response


@mutant(
    "isbn-null-omitted",
    "BOOK-SHAPE",
    'A book without an isbn is rendered without the `isbn` member instead of `"isbn": null`.',
    probe_book_shape,
    also=("READ-YOUR-WRITES",),  # a read omits the null isbn a PUT wrote
)
class IsbnNullOmitted(BooksApp):
    def render(self, book: Book) -> Book:
        rendered = super().render(book)
        if rendered["isbn"] is None:
            del rendered["isbn"]
        return rendered


# -- ids, the list, PUT and DELETE semantics (mostly in the store) -------------------------------
class MaxPlusOneStore(Store):
    def allocate_id(self) -> int:
        return max(self._books, default=0) + 1


@mutant(
    "id-reuse-after-delete",
    "ID-UNIQUE",
    "New ids are max(existing id) + 1, so deleting the newest book hands its id out again.",
    probe_ids_not_reused,
)
class IdReuse(BooksApp):
    store_class = MaxPlusOneStore


class ListIndexStore(Store):
    """The list is served from a secondary index that DELETE forgets to update."""

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[int, Book] = {}

    async def create(self, fields: Fields) -> Book:
        book = await super().create(fields)
        self._index[book["id"]] = dict(book)
        return book

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        book = await super().replace(book_id, fields)
        if book is not None:
            self._index[book_id] = dict(book)
        return book

    async def list(self) -> list[Book]:
        return [dict(self._index[book_id]) for book_id in sorted(self._index)]


@mutant(
    "delete-keeps-in-list",
    "DELETE-GONE",
    "GET /books is served from a secondary index that DELETE forgets to update.",
    probe_deleted_is_gone,
)
class DeleteKeepsInList(BooksApp):
    store_class = ListIndexStore


class NewestFirstStore(Store):
    async def list(self) -> list[Book]:
        return list(reversed(await super().list()))


@mutant(
    "list-newest-first",
    "LIST-ORDER",
    "GET /books lists the newest book first (id DESC).",
    probe_list_ordered,
)
class ListNewestFirst(BooksApp):
    store_class = NewestFirstStore


class DropsNewestStore(Store):
    async def list(self) -> list[Book]:
        return (await super().list())[:-1]


@mutant(
    "list-drops-newest",
    "LIST-OK",
    "GET /books leaves out the newest book (an off-by-one in a pagination slice).",
    probe_list_complete,
)
class ListDropsNewest(BooksApp):
    store_class = DropsNewestStore


@mutant(
    "list-query-rejected",
    "LIST-QUERY",
    "GET /books answers 400 to unknown query parameters.",
    probe_list_query_ignored,
)
class ListQueryRejected(BooksApp):
    async def list_books(self, request: Request) -> Response:
        if request.query:
            raise bad_request(f"unknown query parameters: {request.query[:100]}")
        return await super().list_books(request)


@mutant(
    "put-partial-isbn",
    "PUT-REPLACE",
    "PUT merges into the stored book: an absent isbn keeps its old value instead of null.",
    probe_put_replaces_isbn,
    also=("READ-YOUR-WRITES",),  # the read after the PUT shows the old isbn
)
class PutKeepsAbsentIsbn(BooksApp):
    async def replace_book(self, request: Request, book_id: int) -> Response:
        data = await self.read_json(request)
        fields = self.validate(data)
        old = await self.store.get(book_id)
        if old is not None and "isbn" not in data:
            fields["isbn"] = old["isbn"]
        book = await self.store.replace(book_id, fields)
        if book is None:
            raise not_found(book_id)
        return self.respond(200, self.render(book))


class DeleteInsertStore(Store):
    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        if not await self.delete(book_id):
            return None
        return await self.create(fields)


@mutant(
    "put-changes-id",
    "PUT-REPLACE",
    "PUT is implemented as delete + insert, so the replaced book gets a new id.",
    probe_put_keeps_id,
    also=("PUT-OK", "READ-YOUR-WRITES"),  # the answer has another id; GET of the id answers 404
)
class PutChangesId(BooksApp):
    store_class = DeleteInsertStore


class UpsertStore(Store):
    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        if book_id not in self._books:
            self._books[book_id] = {"id": book_id, **fields}
            self._last_id = max(self._last_id, book_id)
        return await super().replace(book_id, fields)


@mutant(
    "put-creates",
    "PUT-404",
    "PUT to a missing id creates the book under that id (an upsert) instead of 404.",
    probe_put_never_creates,
)
class PutCreates(BooksApp):
    store_class = UpsertStore


class StaleAfterPutStore(Store):
    """Item reads go through a cache that a PUT refreshes lazily: the first GET after a PUT
    still serves the book as it was before that PUT."""

    def __init__(self) -> None:
        super().__init__()
        self._stale: dict[int, Book] = {}

    async def get(self, book_id: int) -> Book | None:
        stale = self._stale.pop(book_id, None)
        book = await super().get(book_id)
        return stale if stale is not None and book is not None else book

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        old = await super().get(book_id)
        book = await super().replace(book_id, fields)
        if old is not None:
            self._stale[book_id] = old
        return book

    async def delete(self, book_id: int) -> bool:
        self._stale.pop(book_id, None)
        return await super().delete(book_id)


@mutant(
    "stale-read-after-put",
    "READ-YOUR-WRITES",
    "Item reads come from a lazily refreshed cache: the first GET after a PUT is stale.",
    probe_read_your_writes,
    also=("PUT-REPLACE",),  # a client cannot tell a stale read from a kept isbn
)
class StaleReadAfterPut(BooksApp):
    store_class = StaleAfterPutStore


# -- concurrency ---------------------------------------------------------------------------------
# A race shows only when requests overlap, and whether the requests of a burst overlap at the
# server is up to the scheduler. So each race mutant carries a hook that, once two requests are in
# flight together, holds the racing step (bounded) until the bad interleaving has happened: any
# overlap at all then shows the bug. A request alone in the app never holds, so sequential traffic
# pays nothing extra and sees the correct behaviour. What the hooks cannot force is overlap itself
# (a loaded client may send the whole burst one request at a time), so the probes and the
# self-check allow a few attempts: see ``attempts`` below and docs/race-rates.md.
#: Longest hold of a racing step, in seconds: a bound, never reached when the race shows.
HOLD = 1.0


class Hook:
    """Wakes the requests held inside a race mutant's store whenever its state changes."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []
        self.holds = 0  # how many times a request was held (tests: never when sequential)

    def poke(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def hold(self, until: Callable[[], bool], bound: float = HOLD) -> bool:
        """Wait until ``until()`` holds (re-checked on every poke), at most ``bound`` seconds;
        return whether it held."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound
        if not until():
            self.holds += 1
        while not until():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return until()
        return True


class HookedStore(Store):
    """A store that knows how many requests are in flight in its app (kept by :class:`Hooked`)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.hook = Hook()

    @property
    def alone(self) -> bool:
        """Is the current request the only one in flight? Then no hook holds it."""
        return self.in_flight <= 1


class Hooked(BooksApp):
    """Counts the HTTP requests in flight for its :class:`HookedStore`."""

    store: HookedStore

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        self.store.in_flight += 1
        self.store.hook.poke()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.store.in_flight -= 1
            self.store.hook.poke()


class RacyCounterStore(HookedStore):
    """Reads the id counter, awaits the row insert, then bumps the counter: no atomicity.

    Hook: with another request in flight, the insert is held until a second create has read the
    same counter value (or nothing else is in flight), so two overlapping creates share an id."""

    def __init__(self) -> None:
        super().__init__()
        #: counter value + 1 -> [creates that read it, those of them not done yet]
        self._readers: dict[int, list[int]] = {}

    async def create(self, fields: Fields) -> Book:
        book_id = self._last_id + 1
        readers = self._readers.setdefault(book_id, [0, 0])
        readers[0] += 1
        readers[1] += 1
        self.hook.poke()
        await round_trip(0.005)
        await self.hook.hold(lambda: readers[0] >= 2 or self.alone)
        self._last_id = book_id
        book = {"id": book_id, **fields}
        self._books[book_id] = book
        readers[1] -= 1
        if not readers[1]:
            del self._readers[book_id]
        return dict(book)


@mutant(
    "create-race",
    "CONC-CREATE",
    "Id allocation reads the counter, awaits the insert, then bumps it: concurrent creates "
    "share ids (and overwrite each other).",
    probe_concurrent_creates,
    needs_server=True,
    only="concurrency",
    attempts=3,  # 300/300 runs loaded: miss <= 0.0099 (95%); 0.0099^3 < 1e-6 (docs/race-rates.md)
)
class CreateRace(Hooked):
    store_class = RacyCounterStore


@dataclass
class _PendingWrite:
    values: dict[str, Any]
    last_touch: float
    members: int = 1
    done: asyncio.Event = field(default_factory=asyncio.Event)


class WriteBehindStore(HookedStore):
    """`year` and `isbn` live in a second table written through a per-book write-behind buffer
    that is flushed after a quiet period. A PUT arriving while a flush is pending writes its
    title/author at once but only ``setdefault``s year/isbn, so the buffer keeps the *first*
    pending values: a burst of PUTs leaves a book that matches none of them.

    Hook: the quiet period is one round trip for a PUT alone in the app, and ``burst_quiet`` once
    other requests are in flight, so the stragglers of a burst still join the pending flush."""

    quiet = 0.005  # seconds without a new PUT before the buffer is flushed
    burst_quiet = 0.25  # the same while other requests are (or were, for this flush) in flight

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[int, _PendingWrite] = {}

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        book = self._books.get(book_id)
        if book is None:
            return None
        loop = asyncio.get_running_loop()
        book["title"], book["author"] = fields["title"], fields["author"]
        deferred = {"year": fields["year"], "isbn": fields["isbn"]}
        pending = self._pending.get(book_id)
        if pending is not None:  # join the pending flush
            for name, value in deferred.items():
                pending.values.setdefault(name, value)  # the bug: should be pending.values[name]
            pending.last_touch = loop.time()
            pending.members += 1
            await pending.done.wait()
        else:  # lead a new flush
            pending = self._pending[book_id] = _PendingWrite(deferred, loop.time())
            burst = False
            while True:
                burst = burst or not self.alone
                quiet = self.burst_quiet if burst else self.quiet
                wait = pending.last_touch + quiet - loop.time()
                if wait <= 0:
                    break
                await round_trip(min(wait, self.quiet))  # re-checks the burst every round trip
            del self._pending[book_id]
            if book_id in self._books:
                self._books[book_id].update(pending.values)
            pending.done.set()
        current = self._books.get(book_id)
        return None if current is None else dict(current)


@mutant(
    "put-race",
    "CONC-PUT",
    "year/isbn go through a write-behind buffer that keeps the first pending value: after "
    "concurrent PUTs the book mixes two bodies.",
    probe_concurrent_puts,
    needs_server=True,
    only="concurrency",
    attempts=3,  # 300/300 runs loaded: miss <= 0.0099 (95%); 0.0099^3 < 1e-6 (docs/race-rates.md)
)
class PutRace(Hooked):
    store_class = WriteBehindStore


class TwoStepDeleteStore(HookedStore):
    """An id index next to the rows, updated in separate awaited steps without a transaction.

    Hook: with other requests in flight, a GET that found the id in the index waits (bounded by
    ``read_hold``) for a DELETE to remove the row before reading it, and a DELETE holds its second
    step while a GET of the book is under way until one of them has read the torn state:
    a DELETE overlapping GETs of its book always produces the torn read."""

    read_hold = 0.25  # seconds a GET racing other requests waits for a DELETE of its book

    def __init__(self) -> None:
        super().__init__()
        self._ids: set[int] = set()
        self._reading: dict[int, int] = {}  # book id -> GETs of it under way in the store
        self._torn_reads = 0

    async def create(self, fields: Fields) -> Book:
        book = await super().create(fields)
        self._ids.add(book["id"])
        return book

    async def get(self, book_id: int) -> Book | None:
        if book_id not in self._ids:
            return None
        self._reading[book_id] = self._reading.get(book_id, 0) + 1
        try:
            await round_trip(0.002)
            if not self.alone:
                await self.hook.hold(lambda: book_id not in self._books, self.read_hold)
            row = self._books.get(book_id)
            if row is None:  # a DELETE removed the row meanwhile: KeyError, so a 500
                self._torn_reads += 1
                raise KeyError(book_id)
            return dict(row)
        finally:
            self._reading[book_id] -= 1
            if not self._reading[book_id]:
                del self._reading[book_id]
            self.hook.poke()

    async def delete(self, book_id: int) -> bool:
        if book_id not in self._ids or book_id not in self._books:
            return False
        torn = self._torn_reads
        del self._books[book_id]
        self.hook.poke()
        await round_trip(0.05)  # the index is cleaned up in a second round trip
        await self.hook.hold(lambda: self._torn_reads > torn or book_id not in self._reading)
        self._ids.discard(book_id)
        return True


@mutant(
    "delete-race-500",
    "CONC-NO-5XX",
    "DELETE removes the row, then the id index in a second step: a GET racing it finds the "
    "id but not the row and answers 500.",
    probe_delete_racing_reads,
    also=("NO-5XX",),
    needs_server=True,
    only="concurrency",
    attempts=3,  # 300/300 runs loaded: miss <= 0.0099 (95%); 0.0099^3 < 1e-6 (docs/race-rates.md)
)
class DeleteRace500(Hooked):
    store_class = TwoStepDeleteStore


# -- request body validation ---------------------------------------------------------------------
@mutant(
    "client-id-honoured",
    "VAL-CLIENT-ID",
    "POST accepts a client `id` member and stores the book under that id.",
    probe_client_id_ignored,
)
class ClientIdHonoured(BooksApp):
    def check_members(self, data: dict[str, Any]) -> None:
        super().check_members({name: value for name, value in data.items() if name != "id"})

    async def create_book(self, request: Request) -> Response:
        data = await self.read_json(request)
        fields = self.validate(data)
        if "id" in data:
            fields["id"] = data["id"]  # the store spreads the fields over its own id
        book = await self.store.create(fields)
        return self.respond(201, self.render(book))


@mutant(
    "unknown-members-stored",
    "VAL-UNKNOWN",
    "Unknown members are accepted, stored with the book and echoed back.",
    probe_unknown_members,
)
class UnknownMembersStored(BooksApp):
    def check_members(self, data: dict[str, Any]) -> None:
        pass

    def validate(self, data: Any) -> Fields:
        fields = super().validate(data)
        extra = {name: value for name, value in data.items() if name not in (*MEMBERS, "id")}
        return {**extra, **fields}

    def render(self, book: Book) -> Book:
        return dict(book)


@mutant(
    "year-string-coerced",
    "VAL-YEAR",
    'A numeric string year ("1999") is accepted and stored as an integer.',
    rejects(year="1999"),
    also=ACCEPTS_INVALID,
)
class YearStringCoerced(BooksApp):
    def check_year(self, value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,10}\s*", value):
            value = int(value)
        return super().check_year(value)


@mutant(
    "year-bool-accepted",
    "VAL-YEAR",
    "year is checked with isinstance(value, int), so true/false pass and are stored as 1/0.",
    rejects(year=True),
    also=ACCEPTS_INVALID,
)
class YearBoolAccepted(BooksApp):
    def check_year(self, value: Any) -> int:
        return super().check_year(int(value) if isinstance(value, bool) else value)


@mutant(
    "year-int32-wrap",
    "VAL-YEAR",
    "year is stored in a signed 32-bit field without a range check: 2147483648 wraps "
    "to -2147483648.",
    rejects(year=2**31),
    also=ACCEPTS_INVALID,
)
class YearInt32Wrap(BooksApp):
    def check_year(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value - INT32_MIN) % 2**32 + INT32_MIN
        return super().check_year(value)


@mutant(
    "year-fraction-truncated",
    "VAL-YEAR",
    "A fractional year (1999.5) is accepted and truncated with int().",
    rejects(year=1999.5),
    also=ACCEPTS_INVALID,
)
class YearFractionTruncated(BooksApp):
    def check_year(self, value: Any) -> int:
        if isinstance(value, float) and math.isfinite(value):
            value = int(value)
        return super().check_year(value)


@mutant(
    "year-below-int32-accepted",
    "VAL-YEAR",
    "Only the upper bound of year is checked: -2147483649 and below are accepted.",
    rejects(year=INT32_MIN - 1),
    also=ACCEPTS_INVALID,
)
class YearBelowInt32Accepted(BooksApp):
    def check_year(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value < INT32_MIN:
            return value
        return super().check_year(value)


@mutant(
    "nul-in-title",
    "VAL-TEXT",
    "The U+0000 check covers author and isbn but not title.",
    rejects(title="nul\x00inside"),
    also=ACCEPTS_INVALID,
)
class NulInTitle(BooksApp):
    nul_forbidden_in: ClassVar[frozenset[str]] = frozenset({"author", "isbn"})


@mutant(
    "title-501-accepted",
    "VAL-TEXT",
    "Off-by-one limit: a 501-character title is accepted.",
    rejects(title="x" * 501),
    also=ACCEPTS_INVALID,
)
class Title501Accepted(BooksApp):
    text_limits: ClassVar[dict[str, tuple[int, int]]] = {**BooksApp.text_limits, "title": (1, 501)}


@mutant(
    "empty-title-accepted",
    "VAL-TEXT",
    'The minimum length of title is not checked: "" passes.',
    rejects(title=""),
    also=ACCEPTS_INVALID,
)
class EmptyTitleAccepted(BooksApp):
    text_limits: ClassVar[dict[str, tuple[int, int]]] = {**BooksApp.text_limits, "title": (0, 500)}


@mutant(
    "length-in-utf8-bytes",
    "VAL-TEXT",
    "Lengths are counted in UTF-8 bytes, not code points: 500 non-ASCII characters are rejected.",
    stores_exactly(title="\U0001d518" * 500, author="\u00e9" * 300),
    also=("VAL-ISBN",),
)
class LengthInUtf8Bytes(BooksApp):
    """Also breaks VAL-ISBN: the isbn's length is counted the same way, so a valid isbn of 32
    non-ASCII characters is rejected."""

    def text_length(self, value: str) -> int:
        return len(value.encode("utf-8"))


@mutant(
    "isbn-33-accepted",
    "VAL-ISBN",
    "Off-by-one limit: a 33-character isbn is accepted.",
    rejects(isbn="1" * 33),
    also=ACCEPTS_INVALID,
)
class Isbn33Accepted(BooksApp):
    text_limits: ClassVar[dict[str, tuple[int, int]]] = {**BooksApp.text_limits, "isbn": (1, 33)}


class _RewritesStrings(BooksApp):
    """Validates exactly, then stores a rewritten string."""

    def rewrite(self, name: str, value: str) -> str:
        return value

    def validate(self, data: Any) -> Fields:
        fields = super().validate(data)
        return {
            name: self.rewrite(name, value) if isinstance(value, str) else value
            for name, value in fields.items()
        }


@mutant(
    "strings-trimmed",
    "DATA-EXACT",
    "title, author and isbn are stored .strip()ped.",
    stores_exactly(title="  Dune  ", author="Frank Herbert\n"),
)
class StringsTrimmed(_RewritesStrings):
    def rewrite(self, name: str, value: str) -> str:
        return value.strip()


@mutant(
    "strings-nfc",
    "DATA-EXACT",
    "Strings are stored in Unicode NFC.",
    stores_exactly(title="Cafe\u0301 Noe\u0308l"),
)
class StringsNfc(_RewritesStrings):
    def rewrite(self, name: str, value: str) -> str:
        return unicodedata.normalize("NFC", value)


@mutant(
    "author-lowercased",
    "DATA-EXACT",
    "author is stored lower-cased (a 'case-insensitive search' shortcut).",
    stores_exactly(author="Ursula K. Le Guin"),
)
class AuthorLowercased(_RewritesStrings):
    def rewrite(self, name: str, value: str) -> str:
        return value.lower() if name == "author" else value


# -- invalid requests ----------------------------------------------------------------------------
@mutant(
    "malformed-json-500",
    "INVALID-4XX",
    "JSON decode errors are not caught: malformed, empty or non-UTF-8 bodies get 500.",
    rejects_raw(b'{"title": "Dune", "author": '),
    also=("NO-5XX",),
)
class MalformedJson500(BooksApp):
    def parse_json(self, raw: bytes) -> Any:
        json.loads(raw)  # raises on malformed JSON, and nothing catches it
        return super().parse_json(raw)


@mutant(
    "invalid-utf8-replaced",
    "INVALID-4XX",
    "Invalid UTF-8 is decoded with errors='replace' and stored with U+FFFD.",
    rejects_raw(b'{"title": "bad \xff\xfe", "author": "b", "year": 1}'),
    also=("INVALID-UNCHANGED",),
)
class InvalidUtf8Replaced(BooksApp):
    def decode_text(self, raw: bytes) -> str:
        return raw.decode("utf-8", errors="replace")


@mutant(
    "lone-surrogate-accepted",
    "INVALID-4XX",
    'A lone surrogate escape ("\\ud800") is accepted, stored and echoed as an escape.',
    rejects_raw(b'{"title": "\\ud800", "author": "b", "year": 1}'),
    also=("INVALID-UNCHANGED",),
)
class LoneSurrogateAccepted(BooksApp):
    def check_no_lone_surrogates(self, data: Any) -> None:
        pass

    def encode(self, payload: Any) -> bytes:
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class _IsbnSecondStep(BooksApp):
    def validate(self, data: Any) -> Fields:  # everything but isbn, which comes later
        return super().validate({**data, "isbn": None} if isinstance(data, dict) else data)


@mutant(
    "isbn-second-step",
    "INVALID-UNCHANGED",
    "isbn is validated and written in a second step after the row is saved: a bad isbn "
    "gets 400 but the rest of the body is already stored.",
    probe_rejected_leaves_store,
)
class IsbnSecondStep(_IsbnSecondStep):
    async def create_book(self, request: Request) -> Response:
        data = await self.read_json(request)
        book = await self.store.create(self.validate(data))
        book["isbn"] = self.check_isbn(data.get("isbn"))  # a bad isbn raises: the row stays
        await self.store.replace(book["id"], {name: book[name] for name in MEMBERS})
        return self.respond(201, self.render(book))

    async def replace_book(self, request: Request, book_id: int) -> Response:
        data = await self.read_json(request)
        fields = self.validate(data)
        if await self.store.replace(book_id, fields) is None:
            raise not_found(book_id)
        fields["isbn"] = self.check_isbn(data.get("isbn"))  # too late: the rest is stored
        book = await self.store.replace(book_id, fields)
        if book is None:
            raise not_found(book_id)
        return self.respond(200, self.render(book))


@mutant(
    "huge-id-500",
    "PATH-ID",
    "Path ids are only checked for digits; ids of 2^63 and above overflow the 64-bit key "
    "packing and get 500.",
    probe_bad_path_ids,
    also=("NO-5XX",),
)
class HugeId500(BooksApp):
    def parse_id(self, segment: str) -> int:
        if not (segment.isascii() and segment.isdigit()):
            return super().parse_id(segment)
        book_id = int(segment)
        struct.pack(">q", book_id)  # struct.error for 2**63 and above
        return book_id


@mutant(
    "method-500",
    "METHOD-4XX",
    "Unsupported methods fall through the dispatch table (KeyError) and get 500.",
    probe_method_4xx,
    also=("METHOD-405", "NO-5XX"),
)
class Method500(BooksApp):
    def unsupported_method(self, method: str, allowed: tuple[str, ...]) -> NoReturn:
        raise KeyError(method)


@mutant(
    "method-405-without-allow",
    "METHOD-405",
    "Unsupported methods get 405 but no Allow header.",
    probe_method_405_allow,
)
class Method405WithoutAllow(BooksApp):
    def unsupported_method(self, method: str, allowed: tuple[str, ...]) -> NoReturn:
        raise HTTPError(405, f"method {method} is not allowed here")


@mutant(
    "oversize-500",
    "SIZE-NO-5XX",
    "The body-size guard raises instead of answering 413: bodies over 1 MiB get 500.",
    probe_oversize_no_5xx,
    also=("SIZE-413", "NO-5XX"),
)
class Oversize500(BooksApp):
    def body_too_large(self) -> NoReturn:
        raise OverflowError("request body exceeds the 1 MiB buffer")


@mutant(
    "size-limit-1gib",
    "SIZE-413",
    "The body limit is 1 GiB, not 1 MiB (a unit mix-up): a 1 MiB+ body is parsed and gets "
    "400, not 413.",
    probe_oversize_413,
)
class SizeLimit1GiB(BooksApp):
    max_body_size = 1024 * 1024 * 1024


@mutant(
    "charset-415",
    "CT-JSON",
    "The Content-Type is compared as an exact string: `application/json; charset=utf-8` gets 415.",
    probe_json_charset_accepted,
)
class Charset415(BooksApp):
    def check_content_type(self, value: str | None) -> None:
        if value is not None and value != JSON_TYPE:
            raise HTTPError(415, f"Content-Type {value!r} is not {JSON_TYPE}")


@mutant(
    "other-type-400",
    "CT-OTHER",
    "A non-JSON Content-Type gets 400 instead of 415 (or being accepted as JSON).",
    probe_other_type_accepted_or_415,
)
class OtherType400(BooksApp):
    def check_content_type(self, value: str | None) -> None:
        super().check_content_type(value)
        media_type = (value or JSON_TYPE).split(";")[0].strip().lower()
        if media_type != JSON_TYPE:
            raise bad_request(f"Content-Type {media_type!r} is not {JSON_TYPE}")


@mutant(
    "not-found-html",
    "ERROR-JSON",
    "404s are answered with an HTML page (text/html).",
    probe_error_is_json_object(_get_missing),
)
class NotFoundHtml(BooksApp):
    def error_response(self, error: HTTPError) -> Response:
        if error.status == 404:
            page = b"<html><body><h1>404 Not Found</h1></body></html>"
            return Response(404, page, "text/html; charset=utf-8")
        return super().error_response(error)


@mutant(
    "errors-as-array",
    "ERROR-JSON",
    "Validation errors are a JSON array of messages, not a JSON object.",
    probe_error_is_json_object(_post_invalid),
)
class ErrorsAsArray(BooksApp):
    def error_response(self, error: HTTPError) -> Response:
        if error.status == 400:
            return self.respond(400, [error.message], error.headers)
        return super().error_response(error)


@mutant(
    "always-500",
    "NO-5XX",
    "Every request gets 500 (a server whose database is down).",
    probe_no_5xx,
    also=ANY,
)
class Always500(BooksApp):
    async def handle(self, request: Request) -> Response:
        raise ConnectionRefusedError("database unavailable")


# -- bugs that only one layer of the kit can see ------------------------------------------------
# The kill matrix shows these caught by exactly one layer: hand-written examples never take the
# path (a valid id above 2^53, a control character), generated ones do.
async def probe_big_valid_id(c: httpx.AsyncClient) -> None:
    response = await c.get(f"/books/{2**53 + 1}")
    assert response.status_code < 500, where(response)


@mutant(
    "big-id-float-500",
    "NO-5XX",
    "Path ids go through a double: a valid id above 2^53 gets 500 (only Schemathesis tries one).",
    probe_big_valid_id,
    only="schemathesis",
)
class FloatIds(BooksApp):
    def parse_id(self, segment: str) -> int:
        book_id = super().parse_id(segment)
        if float(book_id) != book_id:
            raise ArithmeticError(f"id {book_id} lost precision")
        return book_id


async def probe_control_characters_kept(c: httpx.AsyncClient) -> None:
    await stores_exactly(title="bell\x07 and escape\x1b[0m", author="del\x7f c1\x85")(c)


@mutant(
    "control-chars-stripped",
    "DATA-EXACT",
    "A sanitiser drops control characters other than tab/CR/LF from strings.",
    probe_control_characters_kept,
)
class StripsControls(BooksApp):
    def check_text(self, name: str, value: Any) -> str:
        text = super().check_text(name, value)
        return "".join(ch for ch in text if ch in "\t\n\r" or unicodedata.category(ch) != "Cc")


async def probe_long_strings_untrimmed(c: httpx.AsyncClient) -> None:
    await stores_exactly(title="x" * 299 + " ", author=" " + "y" * 299)(c)


@mutant(
    "long-strings-trimmed",
    "DATA-EXACT",
    "Strings over 255 code points take an overflow path that trims edge whitespace "
    "(properties only).",
    probe_long_strings_untrimmed,
    only="properties",
)
class TrimsLongStrings(BooksApp):
    def check_text(self, name: str, value: Any) -> str:
        text = super().check_text(name, value)
        return text.strip() if len(text) > 255 else text


async def probe_replaced_then_deleted_is_unlisted(c: httpx.AsyncClient) -> None:
    book = await create(c)
    await c.put(f"/books/{book['id']}", json=book_body(title="replaced"))
    await c.delete(f"/books/{book['id']}")
    listed = [item["id"] for item in (await c.get("/books")).json()]
    assert book["id"] not in listed, f"book {book['id']} is still listed after PUT + DELETE"


class ReplacedStayListedStore(Store):
    """Replaced books are moved to a 'revised' table that DELETE does not look at."""

    def __init__(self) -> None:
        super().__init__()
        self._revised: dict[int, Book] = {}

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        book = await super().replace(book_id, fields)
        if book is not None:
            self._revised[book_id] = dict(book)
        return book

    async def list(self) -> list[Book]:
        books = {**self._revised, **{book["id"]: book for book in await super().list()}}
        return [dict(books[book_id]) for book_id in sorted(books)]


@mutant(
    "replaced-stays-listed",
    "DELETE-GONE",
    "A book that was replaced (PUT) stays in GET /books after its DELETE (state machine only).",
    probe_replaced_then_deleted_is_unlisted,
    only="state machine",
)
class ReplacedStaysListed(BooksApp):
    store_class = ReplacedStayListedStore


MUTANTS: tuple[Mutant, ...] = tuple(_registered)
MUTANTS_BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}
