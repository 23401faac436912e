"""Concurrent workloads recorded as histories, and the verdict on a history.

:func:`together` releases a batch of calls at one instant; :func:`recorded` does the same and
returns each call's exchange with its client number; :func:`mixed_rounds` is the mixed
create/read/PUT/DELETE/list workload on a few shared books; :func:`judge` checks a history for
linearizability and raises the failure (shrunk, with a timeline and a concurrent reproducer),
or skips the test as inconclusive when the search ran past its budget.

Example::

    history = mixed_rounds(client, rounds=8)
    judge(history, "CONC-LINEARIZABLE")
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import pytest

from conformance._cases import LIMITS, valid_body
from conformance._client import BooksClient
from conformance._exchange import Exchange
from conformance._history import operations, timeline, timeline_data
from conformance._judge import book_id_of
from conformance._linearize import INCONCLUSIVE, VIOLATION, Budget, check, shrink
from conformance._violation import RequirementViolation, require

T = TypeVar("T")
WIDTH = LIMITS.concurrency
SETUP = -1  # the client number of requests sent one at a time, outside the bursts
_batches = itertools.count(1)
#: One row of the mixed workload per ``len(PATTERN)`` clients: what each client sends, on a
#: shared book (``S``: PUT twice, read) or on one created the round before (``A``: deleted while
#: a PUT and a read race the DELETE); creates and lists go beside them.
PATTERN = ("create", "list", "put S", "read S", "delete A", "put A", "read A", "put S")
#: The search budget of one verdict (benchmarks/linearize.py measures what it buys).
BUDGET = Budget(nodes=200_000, seconds=5.0)


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


def recorded(client: BooksClient, calls: Sequence[Callable[[], Any]]) -> list[tuple[int, Exchange]]:
    """Run ``calls`` together; return (client number, exchange) for each, client i sending
    call i."""

    def send(call: Callable[[], Any]) -> Exchange:
        call()
        return client.sent()

    return list(enumerate(together(client, [partial(send, call) for call in calls])))


def alone(client: BooksClient, call: Callable[[], Any]) -> tuple[int, Exchange]:
    """Send one request outside any burst; it joins the history as client ``SETUP``."""
    call()
    return SETUP, client.sent()


def _created(exchange: Exchange) -> int:
    require("CREATE-OK", exchange.status == 201, f"a create got {exchange.status}, want 201",
            exchange)  # fmt: skip
    return book_id_of("CREATE-OK", exchange.response_json(), exchange)


def _body(round_no: int, client_no: int) -> dict[str, Any]:
    return valid_body(title=f"round {round_no} client {client_no}", author=f"author {client_no}",
                      year=1900 + round_no, isbn=f"isbn {round_no}-{client_no}")  # fmt: skip


def mixed_rounds(client: BooksClient, rounds: int) -> list[tuple[int, Exchange]]:
    """The mixed workload: a few shared books and as many fresh ones, created one at a time,
    then ``rounds`` bursts of WIDTH requests (see PATTERN: each burst creates the next fresh
    books and deletes the previous ones while PUTs and reads race the DELETEs), then one list.
    Inputs are fixed; only the timing is the target's."""
    rows = max(1, WIDTH // len(PATTERN))
    history = [alone(client, partial(client.create, _body(0, -i), rule="CREATE-OK"))
               for i in range(1, 2 * rows + 1)]  # fmt: skip
    ids = [_created(ex) for _, ex in history]
    shared, fresh = ids[:rows], ids[rows:]
    under_load = "CONC-NO-5XX"
    for round_no in range(1, rounds + 1):
        calls: list[Callable[[], Any]] = []
        for index in range(WIDTH):
            kind, row = PATTERN[index % len(PATTERN)], index // len(PATTERN)
            book = shared[row % len(shared)] if kind.endswith("S") else fresh[row % len(fresh)]
            item = f"/books/{book}"
            if kind == "create":
                calls.append(partial(client.create, _body(round_no, index), rule=under_load))
            elif kind == "list":
                calls.append(partial(client.get, "/books", rule=under_load))
            elif kind.startswith("put"):
                calls.append(partial(client.put, item, _body(round_no, index), rule=under_load))
            elif kind.startswith("read"):
                calls.append(partial(client.get, item, rule=under_load))
            else:
                calls.append(partial(client.delete, item, rule=under_load))
        burst = recorded(client, calls)
        history += burst
        fresh = [_created(ex) for _, ex in burst if ex.method == "POST"] or fresh
    history.append(alone(client, partial(client.get, "/books", rule="LIST-OK")))
    return history


def judge(history: Sequence[tuple[int, Exchange]], rule: str, budget: Budget = BUDGET) -> None:
    """Require that ``history`` is linearizable, else blame ``rule`` with the smallest
    sub-history found that has no linearization: a timeline in the message and as data, and a
    reproducer that replays those requests (concurrently where they were). An answer wrong on
    its own blames its operation's rule (see ``_history.operations``). Past the search budget
    the test is skipped as inconclusive: neither passed nor failed."""
    ops = operations(history)
    result = check(ops, budget)
    if result.verdict == INCONCLUSIVE:
        pytest.skip(f"{rule} inconclusive: the linearizability search {result.note}")
    if result.verdict != VIOLATION:
        return
    small = sorted(shrink(result.ops), key=lambda op: (op.invoked, op.completed))
    replay = [op.exchange for op in small if op.exchange is not None]
    raise RequirementViolation(
        rule,
        f"the answers of concurrent requests fit no order of the requests ({result.note}); "
        f"the smallest part found that fits none, {len(small)} of {len(ops)} operations:\n"
        + timeline(small),
        max(replay, key=lambda ex: ex.invoked or 0.0) if replay else None,
        timeline=timeline_data(small),
        replay=replay,
    )
