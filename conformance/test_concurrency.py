"""Concurrency checks: 32 requests in flight at once, released together by a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import httpx
import pytest

from conformance._cases import valid_body
from conformance._client import BooksClient
from conformance.test_operations import expected, same_book

requirement = pytest.mark.requirement
WIDTH = 32
T = TypeVar("T")


def together(calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on one thread each, released at the same instant; bounded by WIDTH."""
    assert len(calls) <= WIDTH
    barrier = threading.Barrier(len(calls), timeout=30)

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(run, call) for call in calls]]


@requirement("CONC-NO-5XX")
def test_mixed_concurrent_requests_get_no_server_error(
    client: BooksClient, book: dict[str, Any]
) -> None:
    item = f"/books/{book['id']}"
    calls: list[Callable[[], httpx.Response]] = []
    for index in range(WIDTH):
        kind = index % 4
        body = valid_body()  # drawn here, not in the threads: the same requests on every run
        if kind == 0:
            calls.append(partial(client.create, body))
        elif kind == 1:
            calls.append(lambda: client.get("/books"))
        elif kind == 2:
            calls.append(lambda: client.get(item))
        else:
            calls.append(partial(client.put, item, body))
    statuses = [response.status_code for response in together(calls)]
    assert all(status < 500 for status in statuses), f"statuses under load: {statuses}"


@requirement("CONC-NO-5XX")
def test_delete_racing_reads_yields_200_or_404(client: BooksClient, book: dict[str, Any]) -> None:
    item = f"/books/{book['id']}"
    calls: list[Callable[[], httpx.Response]] = [lambda: client.delete(item)]
    calls += [lambda: client.get(item)] * (WIDTH - 1)
    responses = together(calls)
    assert responses[0].status_code == 204, f"the racing DELETE got {responses[0].status_code}"
    reads = sorted({r.status_code for r in responses[1:]})
    assert set(reads) <= {200, 404}, f"GETs racing a DELETE got {reads}, want only 200/404"
    assert client.get(item).status_code == 404, "the book survived its DELETE"


@requirement("CONC-CREATE")
def test_concurrent_creates_get_distinct_ids(client: BooksClient) -> None:
    bodies = [valid_body(year=index) for index in range(WIDTH)]
    responses = together([partial(client.create, body) for body in bodies])
    assert [r.status_code for r in responses] == [201] * WIDTH, [r.status_code for r in responses]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == WIDTH, f"concurrent creates shared ids: {sorted(ids)}"
    listed = {b["id"]: b for b in client.get("/books").json()}
    for body, book_id in zip(bodies, ids, strict=True):
        assert same_book(listed.get(book_id), expected(body, book_id)), (
            f"book {book_id} created concurrently is not listed as sent: {listed.get(book_id)}"
        )


@requirement("CONC-PUT")
def test_concurrent_puts_leave_one_whole_body(client: BooksClient, book: dict[str, Any]) -> None:
    item = f"/books/{book['id']}"
    bodies = [
        valid_body(title=f"title {i}", author=f"author {i}", year=i, isbn=f"isbn {i}")
        for i in range(WIDTH)
    ]
    responses = together([partial(client.put, item, body) for body in bodies])
    assert {r.status_code for r in responses} == {200}, [r.status_code for r in responses]
    final = client.get(item).json()
    assert any(same_book(final, expected(body, book["id"])) for body in bodies), (
        f"after {WIDTH} concurrent PUTs the book is {final}, which is none of the bodies sent"
    )
