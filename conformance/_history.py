"""Concurrent histories: the operations a workload sent, each with its client, invocation and
completion time and its answer, judged one at a time, and drawn as a timeline.

An :class:`Operation` is what the linearizability checker (``_linearize.py``) reads: the kind of
request, the book it is about, the value it writes and what it observed. :func:`operations`
builds them from recorded exchanges and blames an answer that is simply wrong on its own (a
DELETE answering 200, a create answering with another body) on that operation's rule, the way
the example tests do; what is left for the checker are answers that could each be right, but
perhaps not together.

Example::

    ops = operations([(client_no, exchange), ...])  # raises for a wrong status or body
    print(timeline(ops))
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from conformance._exchange import Exchange
from conformance._judge import MEMBERS, book_id_of, check_book, expected, mangled, rule_for_book
from conformance._judge import shape_problem as _shape_problem
from conformance._violation import RequirementViolation, require

#: A book's state in the sequential model: one of these, or a :func:`value_of` string.
UNBORN = "<unborn>"  # its id was never handed out
GONE = "<deleted>"  # it was deleted


def value_of(book: Any) -> str:
    """A served book as one comparable string: its contract members (JSON types kept, extra
    members ignored). Example: ``value_of({"id": 1, "title": "t", ...})``."""
    return json.dumps(
        [book.get(m, "<missing>") for m in MEMBERS]
        if isinstance(book, dict)
        else ["<not a book>", book],
        sort_keys=True,
    )


def is_value(state: str) -> bool:
    """Is ``state`` a stored book (not unborn, not deleted)?"""
    return state not in (UNBORN, GONE)


@dataclass(frozen=True)
class Operation:
    """One request of a concurrent history and what it observed.

    ``book``: the id it is about (a create's: the id it was answered with; a list's: None).
    ``arg``: the value a create or a 200 PUT writes. ``result``: a read's value (``GONE`` for a
    404), a PUT's answer (``GONE`` for a 404), a DELETE's ``"204"``/``GONE``, a create's answer.
    ``seen``: a list's ``(id, value)`` pairs for this history's ids, in the order served.

    Example: ``Operation(3, "read", 0.10, 0.12, book=7, result=GONE)`` (client 3 read a 404).
    """

    client: int
    kind: str
    invoked: float
    completed: float
    book: int | None = None
    arg: str | None = None
    result: str | None = None
    seen: tuple[tuple[int, str], ...] = ()
    exchange: Exchange | None = None

    def describe(self, ids: Collection[int] | None = None) -> str:
        """One line: the request and what came back (titles stand for books; a list shows
        only the books ``ids`` names, when given)."""
        if self.kind == "list":
            seen = [(i, v) for i, v in self.seen if ids is None or i in ids]
            shown = ", ".join(f"{i}:{_label(v)}" for i, v in seen)
            return f"GET /books -> [{shown}]"
        path = "/books" if self.kind == "create" else f"/books/{self.book}"
        method = {"create": "POST", "read": "GET", "put": "PUT", "delete": "DELETE"}[self.kind]
        sent = f" {_label(self.arg)}" if self.kind in ("create", "put") and self.arg else ""
        if self.kind == "create":
            got = f"201 id {self.book}"
        elif self.result == GONE:
            got = "404"
        elif self.kind == "delete":
            got = "204"
        else:
            got = f"200 {_label(self.result)}"
        return f"{method} {path}{sent} -> {got}"


def _label(value: str | None) -> str:
    """A short name for a value: its title."""
    if value is None or not value.startswith("["):
        return str(value)
    members = json.loads(value)
    title = members[MEMBERS.index("title")] if "title" in MEMBERS else members
    return f"{title!a}"[:40]


def _json(exchange: Exchange, default: Any = None) -> Any:
    data = exchange.response_json()
    return default if data is None else data


def operations(sent: Iterable[tuple[int, Exchange]]) -> list[Operation]:
    """The history of ``sent`` (client number, exchange), each answer judged alone first.

    A status outside what the operation may answer under any interleaving blames its rule
    (CREATE-OK, READ-OK, PUT-OK, DELETE-OK, LIST-OK); a body that is not a book blames
    BOOK-SHAPE, a create or PUT answered with a changed version of its own body the rule
    :func:`~conformance._judge.rule_for_book` names; a list out of id order LIST-ORDER.
    """
    entries = list(sent)
    creates: dict[int, list[str]] = {}  # id -> values written to it in this history
    ops: list[Operation] = []
    for client, ex in entries:
        if ex.method == "POST":
            ops.append(_create(client, ex))
            assert ops[-1].book is not None and ops[-1].arg is not None
            creates.setdefault(ops[-1].book, []).append(ops[-1].arg)
    for _, ex in entries:
        if ex.method == "PUT" and ex.status == 200:
            book_id = _book_in(ex.path)
            creates.setdefault(book_id, []).append(value_of(expected(_sent(ex), book_id)))
    created = {op.book for op in ops if op.book is not None}
    for client, ex in entries:
        if ex.method == "POST":
            continue
        ops.append(_other(client, ex, creates, created))
    return sorted(ops, key=lambda op: (op.invoked, op.completed))


def _times(ex: Exchange) -> tuple[float, float]:
    assert ex.invoked is not None and ex.completed is not None, "an exchange without times"
    return ex.invoked, ex.completed


def _sent(ex: Exchange) -> dict[str, Any]:
    body = json.loads(ex.request_body or b"null")
    assert isinstance(body, dict)
    return body


def _book_in(path: str) -> int:
    return int(path.split("?")[0].split("/")[2])


def _answered(ex: Exchange, rule: str, allowed: tuple[int, ...]) -> None:
    require(
        rule,
        ex.status in allowed,
        f"{ex.method} {ex.path} racing other requests got "
        f"{ex.status}, want {' or '.join(map(str, allowed))}",
        ex,
    )


def _create(client: int, ex: Exchange) -> Operation:
    _answered(ex, "CREATE-OK", (201,))
    served = _json(ex)
    book_id = book_id_of("CREATE-OK", served, ex)
    want = expected(_sent(ex), book_id)
    check_book("the 201 body of a concurrent create", served, want, "CREATE-OK", ex)
    value = value_of(want)
    return Operation(
        client, "create", *_times(ex), book=book_id, arg=value, result=value, exchange=ex
    )


def _observed(served: Any, written: Sequence[str], ex: Exchange) -> str:
    """A served book judged alone: not a book blames BOOK-SHAPE, a changed string of a value
    written to it DATA-EXACT; anything else is the checker's to judge."""
    problem = _shape_problem(served)
    require(
        "BOOK-SHAPE",
        problem is None,
        f"{ex.method} {ex.path} served {served!a}"[:300] + f": {problem}",
        ex,
    )
    value = value_of(served)
    if value not in written:
        for other in written:
            want = dict(zip(MEMBERS, json.loads(other), strict=True))
            rule = rule_for_book(served, want, "")
            # Only a known mangling of every differing string (trimmed, normalised, case): a book
            # mixed from two concurrent writes also differs from each in strings alone.
            changed = [m for m in MEMBERS if served.get(m) != want[m]]
            known = all(
                isinstance(served.get(m), str)
                and isinstance(want[m], str)
                and mangled(want[m], served[m])
                for m in changed
            )
            if rule == "DATA-EXACT" and known:
                raise RequirementViolation(
                    rule,
                    f"{ex.method} {ex.path} served {served!a}, a changed version of "
                    f"{_label(other)} written to it",
                    ex,
                )
    return value


def _other(
    client: int, ex: Exchange, written: dict[int, list[str]], created: set[int]
) -> Operation:
    times = _times(ex)
    if ex.method == "GET" and ex.path.split("?")[0] == "/books":
        books = _json(ex)
        require(
            "LIST-OK",
            ex.status == 200 and isinstance(books, list),
            f"GET /books racing other requests got {ex.status}, not a JSON array",
            ex,
        )
        ours = [
            b
            for b in books
            if isinstance(b, dict) and b.get("id") in created and type(b.get("id")) is int
        ]
        ids = [b["id"] for b in ours]
        require(
            "LIST-ORDER",
            len(set(ids)) < len(ids) or ids == sorted(ids),
            f"GET /books listed ids {ids} (of this history) out of order",
            ex,
        )
        seen = tuple((b["id"], _observed(b, written[b["id"]], ex)) for b in ours)
        return Operation(client, "list", *times, seen=seen, exchange=ex)
    book_id = _book_in(ex.path)
    values = written.get(book_id, [])
    if ex.method == "GET":
        _answered(ex, "READ-OK", (200, 404))
        result = GONE if ex.status == 404 else _observed(_json(ex), values, ex)
        return Operation(client, "read", *times, book=book_id, result=result, exchange=ex)
    if ex.method == "PUT":
        _answered(ex, "PUT-OK", (200, 404))
        if ex.status == 404:
            return Operation(client, "put", *times, book=book_id, result=GONE, exchange=ex)
        want = expected(_sent(ex), book_id)
        served = _json(ex)
        if value_of(served) not in values:  # not even another writer's book: wrong alone
            check_book("the 200 body of a concurrent PUT", served, want, "PUT-OK", ex)
        return Operation(
            client,
            "put",
            *times,
            book=book_id,
            arg=value_of(want),
            result=value_of(served),
            exchange=ex,
        )
    assert ex.method == "DELETE", ex.method
    _answered(ex, "DELETE-OK", (204, 404))
    result = GONE if ex.status == 404 else "204"
    return Operation(client, "delete", *times, book=book_id, result=result, exchange=ex)


# -- drawing --------------------------------------------------------------------------------------
WIDTH = 64  # columns of the time axis
_MARKS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def timeline(ops: Sequence[Operation]) -> str:
    """One line per client, a bar from each operation's invocation to its completion, then one
    line per operation (its mark, the request, what came back, its times).

    Example (client 1's PUT overlaps client 2's read, which completes before client 3's)::

        client  1 |a=======a                    |
        client  2 |   b===b                     |
        client  3 |          c=====c            |
        a  client 1  PUT /books/7 'x' -> 200 'x'   +0.00 .. +1.20 ms
    """
    if not ops:
        return "(no operations)"
    start = min(op.invoked for op in ops)
    span = max(op.completed for op in ops) - start or 1e-9
    ordered = sorted(ops, key=lambda op: (op.invoked, op.completed))
    marks = {id(op): _MARKS[i % len(_MARKS)] for i, op in enumerate(ordered)}
    ids = {op.book for op in ops if op.kind == "create" and op.book is not None}

    def column(t: float) -> int:
        return min(WIDTH - 1, int((t - start) / span * (WIDTH - 1)))

    lines = [
        f"time runs left to right over {span * 1000:.2f} ms; a bar is one request, from "
        "when it was sent to when its answer came"
    ]
    for client in sorted({op.client for op in ops}):
        row = [" "] * WIDTH
        for op in ordered:
            if op.client != client:
                continue
            first, last = column(op.invoked), column(op.completed)
            for col in range(first, last + 1):
                row[col] = "="
            row[first] = row[last] = marks[id(op)]
        name = "setup" if client < 0 else f"client {client:>2}"
        lines.append(f"{name:>9} |{''.join(row)}|")
    for op in ordered:
        lines.append(
            f"{marks[id(op)]}  {'setup' if op.client < 0 else f'client {op.client}'}  "
            f"{op.describe(ids)}   +{(op.invoked - start) * 1000:.2f} .. "
            f"+{(op.completed - start) * 1000:.2f} ms"
        )
    return "\n".join(lines)


def timeline_data(ops: Sequence[Operation]) -> list[dict[str, Any]]:
    """The timeline as data for the JSON report: one record per operation."""
    start = min((op.invoked for op in ops), default=0.0)
    return [
        {
            "client": op.client,
            "operation": op.describe(),
            "invoked_ms": round((op.invoked - start) * 1000, 3),
            "completed_ms": round((op.completed - start) * 1000, 3),
        }
        for op in sorted(ops, key=lambda op: (op.invoked, op.completed))
    ]
