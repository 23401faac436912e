"""Concurrency checks: the contract's number of requests in flight at once, released together by
a barrier. Each request names the rule its answer must meet; a 5xx under load blames NO-5XX and
CONC-NO-5XX. Bursts are recorded as histories (every request with its client, invocation and
completion time and answer) and judged for linearizability (``_linearize.py``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest

from conformance._cases import LIMITS, valid_body
from conformance._client import BooksClient
from conformance._exchange import Exchange
from conformance._judge import (
    check_book,
    expected,
    last,
    read_book,
    require_gone,
    rule_for_book,
    same_book,
)
from conformance._profiles import Profile
from conformance._violation import require
from conformance._workload import SETUP, judge, mixed_rounds, recorded, together

requirement = pytest.mark.requirement
WIDTH = LIMITS.concurrency
UNDER_LOAD = "CONC-NO-5XX"


def exchange_of(client: BooksClient, response: httpx.Response) -> Any:
    """The recorded exchange of a response sent in a batch."""
    for exchange in reversed(client.history):
        if exchange.response_body is response.content and exchange.status == response.status_code:
            return exchange
    return last(client)


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
    require_gone(client, book)


@requirement("CONC-CREATE", "CONC-LINEARIZABLE")
def test_concurrent_creates_get_distinct_ids(client: BooksClient) -> None:
    bodies = [valid_body(year=index) for index in range(WIDTH)]
    history = recorded(client, [partial(client.create, body, rule=UNDER_LOAD) for body in bodies])
    require_every("CONC-CREATE", history, 201, "concurrent creates")
    responses = [_response(ex) for _, ex in history]
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
    # The answers as a history: what the distinct-ids check cannot see is linearizability's.
    judge([*history, (SETUP, last(client))], "CONC-LINEARIZABLE")


@requirement("CONC-PUT", "CONC-LINEARIZABLE")
def test_concurrent_puts_leave_one_whole_body(client: BooksClient, book: dict[str, Any]) -> None:
    item = f"/books/{book['id']}"
    bodies = [
        valid_body(title=f"title {i}", author=f"author {i}", year=i, isbn=f"isbn {i}")
        for i in range(WIDTH)
    ]
    history = recorded(
        client, [partial(client.put, item, body, rule=UNDER_LOAD) for body in bodies]
    )
    require_every("CONC-PUT", history, 200, "concurrent PUTs")
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
    created = next(ex for ex in client.history if ex.method == "POST" and ex.status == 201
                   and (ex.response_json() or {}).get("id") == book["id"])  # fmt: skip
    judge([(SETUP, created), *history, (SETUP, last(client))], "CONC-LINEARIZABLE")


@requirement("CONC-LINEARIZABLE")
def test_mixed_rounds_are_linearizable(client: BooksClient, profile: Profile) -> None:
    judge(mixed_rounds(client, profile.concurrency_rounds), "CONC-LINEARIZABLE")


def require_every(rule: str, history: list[tuple[int, Exchange]], status: int, what: str) -> None:
    """Every exchange of a recorded batch got ``status`` (else ``rule`` is blamed, with the
    first odd one)."""
    wrong = [ex for _, ex in history if ex.status != status]
    require(rule, not wrong, f"{what} got {[ex.status for ex in wrong]}, want {status}",
            wrong[0] if wrong else None)  # fmt: skip


def _response(exchange: Exchange) -> httpx.Response:
    """A recorded answer as a response, for the status checks written for responses."""
    return httpx.Response(exchange.status or 0, content=exchange.response_body)
