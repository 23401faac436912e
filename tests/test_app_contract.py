"""The Books API v1 contract, rule by rule, against the app in-process on both backends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import yaml

pytestmark = pytest.mark.anyio

BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": "978-0441013593"}
ID_MAX = 2**63 - 1
MIB = 1024 * 1024

CreateBook = Callable[..., Awaitable[dict[str, Any]]]


def short_id(value: object) -> str:
    """A readable test id for a long parameter."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def assert_problem(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with one of ``statuses``; returns its body."""
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status_code
    assert isinstance(problem["title"], str)
    return problem


async def list_books(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/books")
    assert response.status_code == 200
    books: list[dict[str, Any]] = response.json()
    return books


# Operations -----------------------------------------------------------------------------


async def test_list_starts_empty(client: httpx.AsyncClient) -> None:
    response = await client.get("/books")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == []


async def test_create_returns_201_the_book_and_its_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/books", json=BOOK)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    book = response.json()
    assert book == {"id": book["id"], **BOOK}
    assert isinstance(book["id"], int)
    assert 1 <= book["id"] <= ID_MAX
    assert response.headers["location"] == f"/books/{book['id']}"

    again = await client.get(response.headers["location"])
    assert again.status_code == 200
    assert again.headers["content-type"] == "application/json"
    assert again.json() == book


async def test_create_without_isbn_stores_null(client: httpx.AsyncClient) -> None:
    response = await client.post("/books", json={"title": "T", "author": "A", "year": 1})
    assert response.status_code == 201
    assert response.json()["isbn"] is None


async def test_list_holds_every_book_ordered_by_id(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    created = [await create_book(title=f"Book {n}") for n in range(5)]
    listed = await list_books(client)
    assert listed == sorted(created, key=lambda book: int(str(book["id"])))
    assert [book["title"] for book in listed] == [f"Book {n}" for n in range(5)]


async def test_list_ignores_unknown_query_parameters(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    book = await create_book()
    response = await client.get("/books", params={"limit": "0", "sort": "-id", "id": "999"})
    assert response.status_code == 200
    assert response.json() == [book]


async def test_get_missing_book_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/books/1"), 404)


async def test_put_replaces_the_whole_book(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    book = await create_book()
    replacement = {"title": "Emma", "author": "Jane Austen", "year": 1815}
    response = await client.put(f"/books/{book['id']}", json=replacement)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = {"id": book["id"], **replacement, "isbn": None}  # absent isbn becomes null
    assert response.json() == expected
    assert (await client.get(f"/books/{book['id']}")).json() == expected
    assert await list_books(client) == [expected]


async def test_put_keeps_the_id_whatever_the_body_says(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    first, second = await create_book(), await create_book()
    response = await client.put(f"/books/{first['id']}", json={**BOOK, "id": second["id"]})
    assert response.status_code == 200
    assert response.json()["id"] == first["id"]
    assert [book["id"] for book in await list_books(client)] == [first["id"], second["id"]]


async def test_put_on_a_missing_book_is_404_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    assert_problem(await client.put("/books/1", json=BOOK), 404)
    assert_problem(await client.put(f"/books/{ID_MAX}", json=BOOK), 404)
    assert await list_books(client) == []


async def test_delete_answers_204_and_the_book_is_gone(
    client: httpx.AsyncClient, create_book: CreateBook
) -> None:
    book, other = await create_book(), await create_book()
    response = await client.delete(f"/books/{book['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/books/{book['id']}"), 404)
    assert await list_books(client) == [other]
    assert_problem(await client.delete(f"/books/{book['id']}"), 404)
    assert_problem(await client.put(f"/books/{book['id']}", json=BOOK), 404)


async def test_delete_missing_book_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/books/1"), 404)


# Request bodies ---------------------------------------------------------------------------


async def test_unknown_members_and_a_client_id_are_ignored(client: httpx.AsyncClient) -> None:
    body = {**BOOK, "id": 4242, "rating": 5, "tags": ["sf"], "ID": 1}
    response = await client.post("/books", json=body)
    assert response.status_code == 201
    book = response.json()
    assert book == {"id": book["id"], **BOOK}
    assert book["id"] != 4242
    assert await list_books(client) == [book]
    assert_problem(await client.get("/books/4242"), 404)


@pytest.mark.parametrize(
    "text",
    [
        "  padded  ",
        "\ttabs and\nnewlines\r\n",
        "MiXeD CaSe",
        "e\u0301",  # NFD: e + combining acute, must not become NFC é
        "\u00e9",  # NFC é
        "\ufb01",  # the ligature fi, must not become "fi" (NFKC)
        "\u212b",  # ANGSTROM SIGN, NFC would make it U+00C5
        "\U0001f600 emoji outside the BMP",
        "\u202eright-to-left override",
        "\u200bzero width space",
        "<b>&amp;</b> ' \" \\ /",
        " ",
    ],
)
async def test_strings_are_stored_and_returned_exactly(
    client: httpx.AsyncClient, text: str
) -> None:
    body = {"title": text, "author": text, "year": 2000, "isbn": text[:32]}
    created = await client.post("/books", json=body)
    assert created.status_code == 201
    assert {key: created.json()[key] for key in body} == body
    fetched = await client.get(f"/books/{created.json()['id']}")
    assert {key: fetched.json()[key] for key in body} == body
    replaced = await client.put(f"/books/{created.json()['id']}", json=body)
    assert {key: replaced.json()[key] for key in body} == body


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "x"},
        {"title": "x" * 500},
        {"title": "\U0001f600" * 500},  # 500 code points, 2000 bytes of UTF-8
        {"author": "y" * 500},
        {"year": 0},
        {"year": -(2**31)},
        {"year": 2**31 - 1},
        {"isbn": "1"},
        {"isbn": "9" * 32},
        {"isbn": "\U0001f4d6" * 32},
        {"isbn": None},
    ],
    ids=short_id,
)
async def test_valid_edge_values_are_accepted(
    client: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    body = {**BOOK, **changes}
    response = await client.post("/books", json=body)
    assert response.status_code == 201, response.text
    book = response.json()
    assert book == {"id": book["id"], **body}
    assert (await client.get(f"/books/{book['id']}")).json() == book


INVALID_BODIES: list[Any] = [
    {"author": "A", "year": 1},  # no title
    {"title": "T", "year": 1},  # no author
    {"title": "T", "author": "A"},  # no year
    {**BOOK, "title": ""},
    {**BOOK, "title": "x" * 501},
    {**BOOK, "title": "\U0001f600" * 501},
    {**BOOK, "title": None},
    {**BOOK, "title": 1},
    {**BOOK, "title": ["T"]},
    {**BOOK, "title": {"text": "T"}},
    {**BOOK, "title": True},
    {**BOOK, "title": "T\u0000"},
    {**BOOK, "author": ""},
    {**BOOK, "author": "y" * 501},
    {**BOOK, "author": 7},
    {**BOOK, "author": "\u0000"},
    {**BOOK, "year": "1999"},
    {**BOOK, "year": True},
    {**BOOK, "year": False},
    {**BOOK, "year": 1999.5},
    {**BOOK, "year": 1999.0},
    {**BOOK, "year": None},
    {**BOOK, "year": [1999]},
    {**BOOK, "year": 2**31},
    {**BOOK, "year": -(2**31) - 1},
    {**BOOK, "year": 2**63},
    {**BOOK, "year": 10**100},
    {**BOOK, "isbn": ""},
    {**BOOK, "isbn": "1" * 33},
    {**BOOK, "isbn": 9780441013593},
    {**BOOK, "isbn": ["1"]},
    {**BOOK, "isbn": "978\u00000441"},
    [],
    [BOOK],
    "Dune",
    1965,
    None,
    True,
]


@pytest.mark.parametrize("body", INVALID_BODIES, ids=short_id)
async def test_invalid_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, create_book: CreateBook, body: Any
) -> None:
    book = await create_book()
    content = json.dumps(body)  # not json=body: httpx sends no body at all for json=None
    headers = {"Content-Type": "application/json"}
    assert_problem(await client.post("/books", content=content, headers=headers), 422)
    assert_problem(await client.put(f"/books/{book['id']}", content=content, headers=headers), 422)
    assert await list_books(client) == [book]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b" ",
        b"{",
        b'{"title": "T", "author": "A", "year": 1',
        b"{'title': 'T', 'author': 'A', 'year': 1}",
        b'{"title": "T", "author": "A", "year": 1,}',
        b"title=T&author=A&year=1",
        b'{"title": "\xff", "author": "A", "year": 1}',  # invalid UTF-8
        b'{"title": "\xed\xa0\x80", "author": "A", "year": 1}',  # UTF-8-encoded surrogate
        b'{"title": "\xc3", "author": "A", "year": 1}',  # truncated sequence
        json.dumps(BOOK).encode("utf-16"),
        json.dumps(BOOK).encode("utf-16-le"),
        json.dumps(BOOK).encode("utf-32"),
    ],
    ids=short_id,
)
async def test_malformed_body_is_400_and_changes_nothing(
    client: httpx.AsyncClient, create_book: CreateBook, content: bytes
) -> None:
    book = await create_book()
    headers = {"Content-Type": "application/json"}
    assert_problem(await client.post("/books", content=content, headers=headers), 400)
    assert_problem(await client.put(f"/books/{book['id']}", content=content, headers=headers), 400)
    assert await list_books(client) == [book]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
        "application/merge-patch+json",
        None,
    ],
)
async def test_json_content_types_are_accepted(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/books", content=json.dumps(BOOK).encode(), headers=headers)
    assert response.status_code == 201, response.text
    book = response.json()
    response = await client.put(
        f"/books/{book['id']}", content=json.dumps(BOOK).encode(), headers=headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/yaml",
        "application/x-msgpack",
        "application/xml",
    ],
)
async def test_other_content_types_are_415(
    client: httpx.AsyncClient, create_book: CreateBook, content_type: str
) -> None:
    book = await create_book()
    headers = {"Content-Type": content_type}
    content = json.dumps(BOOK).encode()
    assert_problem(await client.post("/books", content=content, headers=headers), 415)
    assert_problem(await client.put(f"/books/{book['id']}", content=content, headers=headers), 415)
    assert await list_books(client) == [book]


# Invalid requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "book_id",
    ["abc", "0", "-1", "1.5", "1e3", "0x10", str(2**63), str(2**64), "%00", "%20", "NaN"],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_a_path_id_out_of_range_is_404_or_422(
    client: httpx.AsyncClient, create_book: CreateBook, method: str, book_id: str
) -> None:
    book = await create_book()
    response = await client.request(method, f"/books/{book_id}", json=BOOK)
    assert_problem(response, 404, 422)
    assert await list_books(client) == [book]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_the_largest_id_is_a_plain_404(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, f"/books/{ID_MAX}", json=BOOK)
    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/books", "GET, HEAD, OPTIONS, POST"),
        ("PATCH", "/books", "GET, HEAD, OPTIONS, POST"),
        ("DELETE", "/books", "GET, HEAD, OPTIONS, POST"),
        ("POST", "/books/1", "DELETE, GET, HEAD, OPTIONS, PUT"),
        ("PATCH", "/books/1", "DELETE, GET, HEAD, OPTIONS, PUT"),
        ("TRACE", "/books/1", "DELETE, GET, HEAD, OPTIONS, PUT"),
    ],
)
async def test_unsupported_method_is_405_with_allow(
    client: httpx.AsyncClient, create_book: CreateBook, method: str, path: str, allowed: str
) -> None:
    book = await create_book()
    response = await client.request(method, path, json=BOOK)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed
    assert await list_books(client) == [book]


@pytest.mark.parametrize("path", ["/books/", "/books/1/", "/books//1", "/book"])
async def test_near_miss_paths_are_404_not_redirects(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 404)


async def test_body_over_1_mib_is_413(client: httpx.AsyncClient, create_book: CreateBook) -> None:
    book = await create_book()
    oversized = json.dumps({**BOOK, "padding": "x" * MIB}).encode()
    headers = {"Content-Type": "application/json"}
    assert_problem(await client.post("/books", content=oversized, headers=headers), 413)
    response = await client.put(f"/books/{book['id']}", content=oversized, headers=headers)
    assert_problem(response, 413)
    assert await list_books(client) == [book]


async def test_body_of_exactly_1_mib_is_read(client: httpx.AsyncClient) -> None:
    text = json.dumps(BOOK)
    content = (text + " " * (MIB - len(text))).encode()
    assert len(content) == MIB
    response = await client.post("/books", content=content)
    assert response.status_code == 201, response.text


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b" " * 65536  # no Content-Length: the limit applies as the body streams

    headers = {"Content-Type": "application/json"}
    assert_problem(await client.post("/books", content=chunks(), headers=headers), 413)


# The served OpenAPI document -------------------------------------------------------------


async def test_schema_documents_the_real_status_codes_and_bounds(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/schema.yml")
    assert response.status_code == 200
    schema = yaml.safe_load(response.text)
    assert schema["openapi"] == "3.0.3"
    assert schema["info"] == {"title": "Books API", "version": "1"}
    paths = schema["paths"]
    assert set(paths) == {"/books", "/books/{book_id}"}
    assert set(paths["/books"]) == {"get", "post"}
    assert set(paths["/books/{book_id}"]) == {"get", "put", "delete"}

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"200", "503"} <= statuses("/books", "get")
    assert {"201", "400", "413", "415", "422", "503"} <= statuses("/books", "post")
    assert {"200", "404", "422", "503"} <= statuses("/books/{book_id}", "get")
    assert {"200", "400", "404", "413", "415", "422", "503"} <= statuses("/books/{book_id}", "put")
    assert {"204", "404", "422", "503"} <= statuses("/books/{book_id}", "delete")
    assert "content" not in paths["/books/{book_id}"]["delete"]["responses"]["204"]
    assert "Location" in paths["/books"]["post"]["responses"]["201"]["headers"]

    for method in ("get", "put", "delete"):
        (parameter,) = paths["/books/{book_id}"][method]["parameters"]
        assert parameter["name"] == "book_id"
        assert parameter["in"] == "path"
        assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": ID_MAX}

    book_in = schema["components"]["schemas"]["BookIn"]
    assert book_in["required"] == ["title", "author", "year"]
    properties = book_in["properties"]
    assert (properties["title"]["minLength"], properties["title"]["maxLength"]) == (1, 500)
    assert (properties["author"]["minLength"], properties["author"]["maxLength"]) == (1, 500)
    assert (properties["year"]["minimum"], properties["year"]["maximum"]) == (-(2**31), 2**31 - 1)
    assert properties["year"]["type"] == "integer"
    assert (properties["isbn"]["minLength"], properties["isbn"]["maxLength"]) == (1, 32)
    assert properties["isbn"]["nullable"] is True
    book_out = schema["components"]["schemas"]["BookOut"]
    assert book_out["required"] == ["id", "title", "author", "year", "isbn"]
