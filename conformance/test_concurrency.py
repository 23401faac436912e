"""Concurrency checks: the contract's number of requests in flight at once, released together by
a barrier. Each request names the rule its answer must meet; a 5xx under load blames NO-5XX and
CONC-NO-5XX."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import httpx
import pytest

from conformance._cases import LIMITS, valid_body
from conformance._client import BooksClient
from conformance._judge import check_book, expected, last, read_book, rule_for_book, same_book
from conformance._violation import require

requirement = pytest.mark.requirement
WIDTH = LIMITS.concurrency
T = TypeVar("T")
_batches = itertools.count(1)
UNDER_LOAD = "CONC-NO-5XX"


def together(client: BooksClient, calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on one thread each, released at the same instant; bounded by WIDTH. The
    exchanges they make are tagged as one batch (their reproducer replays them concurrently)."""
    assert len(calls) <= WIDTH
    barrier = threading.Barrier(len(calls), timeout=30)
    start = len(client.history)

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return [future.result() for future in [pool.submit(run, call) for call in calls]]
    finally:
        batch = next(_batches)
        for exchange in client.history[start:]:
            exchange.batch = batch


def exchange_of(client: BooksClient, response: httpx.Response) -> Any:
    """The recorded exchange of a response sent in a batch."""
    for exchange in reversed(client.history):
        if exchange.response_body is response.content and exchange.status == response.status_code:
            return exchange
    return last(client)


def require_all(
    client: BooksClient, rule: str, responses: list[httpx.Response], status: int, what: str
) -> None:
    """Every response of a batch has ``status`` (else ``rule`` is blamed, with the first odd
    exchange)."""
    wrong = [r for r in responses if r.status_code != status]
    require(rule, not wrong, f"{what} got {[r.status_code for r in wrong]}, want {status}",
            exchange_of(client, wrong[0]) if wrong else None)  # fmt: skip


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
            calls.append(partial(client.create, body, rule=UNDER_LOAD))
        elif kind == 1:
            calls.append(partial(client.get, "/books", rule=UNDER_LOAD))
        elif kind == 2:
            calls.append(partial(client.get, item, rule=UNDER_LOAD))
        else:
            calls.append(partial(client.put, item, body, rule=UNDER_LOAD))
    statuses = [response.status_code for response in together(client, calls)]
    require(UNDER_LOAD, all(status < 500 for status in statuses), f"statuses: {statuses}")


@requirement("CONC-NO-5XX")
def test_delete_racing_reads_yields_200_or_404(client: BooksClient, book: dict[str, Any]) -> None:
    item = f"/books/{book['id']}"
    calls: list[Callable[[], httpx.Response]] = [partial(client.delete, item, rule="DELETE-OK")]
    calls += [partial(client.get, item, rule=UNDER_LOAD)] * (WIDTH - 1)
    responses = together(client, calls)
    deleted = responses[0]
    require(
        "DELETE-OK",
        deleted.status_code == 204,
        f"the racing DELETE got {deleted.status_code}",
        exchange_of(client, deleted),
    )
    odd = [r for r in responses[1:] if r.status_code not in (200, 404)]
    require(
        UNDER_LOAD,
        not odd,
        f"GETs racing a DELETE got {sorted({r.status_code for r in odd})}, want only 200/404",
        exchange_of(client, odd[0]) if odd else None,
    )
    status = client.get(item, rule="READ-404").status_code
    require("DELETE-GONE", status == 404, f"the book survived its DELETE ({status})", last(client))


@requirement("CONC-CREATE")
def test_concurrent_creates_get_distinct_ids(client: BooksClient) -> None:
    bodies = [valid_body(year=index) for index in range(WIDTH)]
    responses = together(client, [partial(client.create, body, rule=UNDER_LOAD) for body in bodies])
    require_all(client, "CONC-CREATE", responses, 201, "concurrent creates")
    ids = [r.json().get("id") if isinstance(r.json(), dict) else None for r in responses]
    require(
        "CONC-CREATE",
        all(type(i) is int for i in ids) and len(set(ids)) == WIDTH,
        f"concurrent creates shared ids: {sorted({str(i) for i in ids if ids.count(i) > 1})}",
        last(client),
    )
    listed = {b.get("id"): b for b in client.list_books() if isinstance(b, dict)}
    for body, book_id in zip(bodies, ids, strict=True):
        check_book(
            f"book {book_id} created concurrently, in the list",
            listed.get(book_id),
            expected(body, int(book_id or 0)),
            "CONC-CREATE",
            last(client),
        )


@requirement("CONC-PUT")
def test_concurrent_puts_leave_one_whole_body(client: BooksClient, book: dict[str, Any]) -> None:
    item = f"/books/{book['id']}"
    bodies = [
        valid_body(title=f"title {i}", author=f"author {i}", year=i, isbn=f"isbn {i}")
        for i in range(WIDTH)
    ]
    responses = together(
        client, [partial(client.put, item, body, rule=UNDER_LOAD) for body in bodies]
    )
    require_all(client, "CONC-PUT", responses, 200, "concurrent PUTs")
    final = read_book(client, book["id"])
    rules = {rule_for_book(final, expected(body, book["id"]), "CONC-PUT") for body in bodies}
    require(
        "DATA-EXACT",
        rules != {"DATA-EXACT"},
        f"after concurrent PUTs the book is {final!a}: "
        "one of the bodies sent, but with its strings changed",
        last(client),
    )
    require(
        "CONC-PUT",
        any(same_book(final, expected(body, book["id"])) for body in bodies),
        f"after {WIDTH} concurrent PUTs the book is {final!a}, which is none of the bodies sent",
        last(client),
    )
