"""The traps measured on Responder 9 + SQLAlchemy 2, on both backends (see issue 2).

Each of these once produced a 500, a reused id or a wrong order on at least one backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

CreateBook = Callable[..., Awaitable[dict[str, Any]]]
DatabaseDown = Callable[[], AbstractAsyncContextManager[None]]
JSON = {"Content-Type": "application/json"}
ID_MAX = 2**63 - 1


async def list_books(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/books")
    assert response.status_code == 200
    books: list[dict[str, Any]] = response.json()
    return books


def body_with(field: str, raw_json_string: str) -> bytes:
    """A book body whose ``field`` is the JSON string literal ``raw_json_string`` (escapes kept)."""
    members = {"title": '"T"', "author": '"A"', "year": "1999", field: raw_json_string}
    return ("{" + ", ".join(f'"{key}": {value}' for key, value in members.items()) + "}").encode()


@pytest.mark.parametrize("field", ["title", "author", "isbn"])
@pytest.mark.parametrize("raw", [r'"\u0000"', r'"before\u0000after"', r'"\u0000\u0000"'])
async def test_nul_is_rejected_not_a_500(
    client: httpx.AsyncClient, create_book: CreateBook, field: str, raw: str
) -> None:
    """SQLite stores U+0000 but Postgres fails on it: reject it everywhere."""
    book = await create_book()
    response = await client.post("/books", content=body_with(field, raw), headers=JSON)
    assert response.status_code == 422, response.text
    response = await client.put(f"/books/{book['id']}", content=body_with(field, raw), headers=JSON)
    assert response.status_code == 422, response.text
    assert await list_books(client) == [book]


@pytest.mark.parametrize("field", ["title", "author", "isbn"])
@pytest.mark.parametrize(
    "raw", [r'"\ud800"', r'"\udfff"', r'"x\udc00y"', r'"\ude00\ud83d"', r'"\ud83d"']
)
async def test_lone_surrogate_escape_is_rejected_not_a_500(
    client: httpx.AsyncClient, create_book: CreateBook, field: str, raw: str
) -> None:
    """Both drivers crash encoding a lone surrogate: reject it at validation."""
    book = await create_book()
    response = await client.post("/books", content=body_with(field, raw), headers=JSON)
    assert response.status_code in (400, 422), response.text
    response = await client.put(f"/books/{book['id']}", content=body_with(field, raw), headers=JSON)
    assert response.status_code in (400, 422), response.text
    assert await list_books(client) == [book]


async def test_an_escaped_surrogate_pair_is_one_character(client: httpx.AsyncClient) -> None:
    content = body_with("title", r'"\ud83d\ude00"')
    response = await client.post("/books", content=content, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "\U0001f600"


@pytest.mark.parametrize(
    "nested",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["arrays", "objects"],
)
async def test_deeply_nested_json_is_rejected_not_a_500(
    client: httpx.AsyncClient, nested: bytes
) -> None:
    """``json.loads`` raises RecursionError, not JSONDecodeError, past ~1000 levels."""
    response = await client.post("/books", content=nested, headers=JSON)
    assert response.status_code in (400, 422), response.text
    assert await list_books(client) == []


@pytest.mark.parametrize("year", [-(2**31), 2**31 - 1])
async def test_int32_edges_are_stored(
    client: httpx.AsyncClient, create_book: CreateBook, year: int
) -> None:
    book = await create_book(year=year)
    assert book["year"] == year
    assert (await client.get(f"/books/{book['id']}")).json()["year"] == year
    response = await client.put(f"/books/{book['id']}", json={**book, "year": -year - 1})
    assert response.status_code == 200
    assert response.json()["year"] == -year - 1


@pytest.mark.parametrize("year", [-(2**31) - 1, 2**31, -(2**63) - 1, 2**63, 2**64])
async def test_int32_overflow_is_422_not_a_500(
    client: httpx.AsyncClient, create_book: CreateBook, year: int
) -> None:
    """Postgres INTEGER is int32 and SQLite overflows past int64: reject past int32."""
    book = await create_book()
    body = {**book, "year": year}
    assert (await client.post("/books", json=body)).status_code == 422
    assert (await client.put(f"/books/{book['id']}", json=body)).status_code == 422
    assert await list_books(client) == [book]


@pytest.mark.parametrize("book_id", [ID_MAX, 2**63, 2**64, 2**64 + 1, 10**30])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_int64_path_edges_are_404_or_422_not_a_500(
    client: httpx.AsyncClient, method: str, book_id: int
) -> None:
    """``{book_id:int}`` alone lets ids past 2^63 - 1 reach SQLite, which overflows."""
    response = await client.request(
        method, f"/books/{book_id}", json={"title": "T", "author": "A", "year": 1}
    )
    expected = (404,) if book_id == ID_MAX else (404, 422)
    assert response.status_code in expected, response.text


async def test_ids_are_not_reused_after_deleting_the_newest_book(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    """Without AUTOINCREMENT, SQLite hands out the deleted maximum id again."""
    books = [await create_book() for _ in range(3)]
    newest = books[-1]["id"]
    assert (await client.delete(f"/books/{newest}")).status_code == 204
    assert (await create_book())["id"] > newest

    for book in await list_books(client):
        assert (await client.delete(f"/books/{book['id']}")).status_code == 204
    assert await list_books(client) == []
    assert (await create_book())["id"] > newest + 1


async def test_list_stays_ordered_by_id_after_updates(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    """Postgres returns updated rows last unless the query orders them."""
    books = [await create_book(title=f"Book {n}") for n in range(10)]
    for book in (books[0], books[4], books[1]):
        response = await client.put(f"/books/{book['id']}", json={**book, "title": "Updated"})
        assert response.status_code == 200
    ids = [book["id"] for book in await list_books(client)]
    assert ids == sorted(ids) == [book["id"] for book in books]


async def test_database_down_is_503_problem_without_internals(
    client: httpx.AsyncClient, create_book: CreateBook, database_down: DatabaseDown
) -> None:
    book = await create_book()
    body = {"title": "T", "author": "A", "year": 1}
    async with database_down():
        responses = [
            await client.get("/books"),
            await client.post("/books", json=body),
            await client.get(f"/books/{book['id']}"),
            await client.put(f"/books/{book['id']}", json=body),
            await client.delete(f"/books/{book['id']}"),
        ]
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        problem = response.json()
        assert problem["status"] == 503
        assert problem["title"] == "Service Unavailable"
        assert set(problem) <= {"type", "title", "status", "detail"}
        for internal in ("sqlite", "asyncpg", "postgres", "Errno", "SELECT", "books.db"):
            assert internal not in response.text


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_app_recovers_when_postgres_comes_back(
    client: httpx.AsyncClient, create_book: CreateBook, database_down: DatabaseDown
) -> None:
    book = await create_book()
    async with database_down():
        assert (await client.get("/books")).status_code == 503
    assert await list_books(client) == [book]
    assert (await client.post("/books", json=book)).status_code == 201
