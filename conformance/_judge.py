"""One home for every judgement the suite's layers share: what a served book must be, which rule
a wrong one breaks, and how a wrong one reads.

Example::

    want = expected({"title": "Dune", "author": "F. H.", "year": 1965}, book_id=7)
    check_book("the 201 body", served, want, "CREATE-OK", exchange)  # raises a violation
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from conformance._client import JSON, BooksClient
from conformance._exchange import Exchange
from conformance._registry import limits
from conformance._violation import RequirementViolation, require

Book = dict[str, Any]
#: The members of a served book (``id`` first) and of a request body, from the OpenAPI document.
MEMBERS = limits().members
REQUEST_MEMBERS = limits().request_members
#: The JSON types each member of a served book may have.
SHAPE: dict[str, tuple[type, ...]] = {
    "id": (int,),
    "title": (str,),
    "author": (str,),
    "year": (int,),
    "isbn": (str, type(None)),
}
#: The rule a wrong value of each request member breaks.
RULE_OF_MEMBER = {"title": "VAL-TEXT", "author": "VAL-TEXT", "year": "VAL-YEAR", "isbn": "VAL-ISBN"}
#: Ways servers mangle strings, for hints and for telling DATA-EXACT from other faults.
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "trimmed": str.strip,
    "left-trimmed": str.lstrip,
    "right-trimmed": str.rstrip,
    "NFC-normalised": lambda s: unicodedata.normalize("NFC", s),
    "NFD-normalised": lambda s: unicodedata.normalize("NFD", s),
    "NFKC-normalised": lambda s: unicodedata.normalize("NFKC", s),
    "NFKD-normalised": lambda s: unicodedata.normalize("NFKD", s),
    "lower-cased": str.lower,
    "upper-cased": str.upper,
    "case-folded": str.casefold,
}


# -- what a book must be -------------------------------------------------------------------------
def expected(body: Mapping[str, Any], book_id: int) -> Book:
    """What the server must return for the valid ``body`` stored under ``book_id``."""
    return {"id": book_id, "isbn": None, **{k: v for k, v in body.items() if k in REQUEST_MEMBERS}}


def same_member(served: Any, want: Book, member: str) -> bool:
    return (
        isinstance(served, dict)
        and member in served
        and served[member] == want[member]
        and type(served[member]) is type(want[member])
    )


def same_book(served: Any, want: Book) -> bool:
    """Do the contract members of ``served`` equal ``want`` (extra members are allowed)?"""
    return all(same_member(served, want, member) for member in MEMBERS)


def shape_problem(served: Any) -> str | None:
    """What makes ``served`` no book at all (None if it has the contract's shape)."""
    if not isinstance(served, dict):
        return "it is not a JSON object"
    missing = [m for m in MEMBERS if m not in served]
    if missing:
        return f"it lacks {missing}"
    mistyped = [m for m, types in SHAPE.items() if type(served[m]) not in types]
    if mistyped:
        return f"{mistyped} have the wrong JSON type"
    if not 1 <= served["id"] <= limits().id_max:
        return f"its id {served['id']} is not in 1..{limits().id_max}"
    return None


def valid_members(body: Mapping[str, Any]) -> bool:
    """Are the contract's members of ``body`` valid (unknown members are not looked at)?"""
    bounds = limits()

    def text(value: Any, longest: int) -> bool:
        return isinstance(value, str) and 1 <= len(value) <= longest and "\x00" not in value

    year = body.get("year")
    return (
        text(body.get("title"), bounds.text_max)
        and text(body.get("author"), bounds.text_max)
        and type(year) is int
        and bounds.year_min <= year <= bounds.year_max
        and (body.get("isbn") is None or text(body.get("isbn"), bounds.isbn_max))
    )


# -- which rule a wrong book breaks ---------------------------------------------------------------
def mangled(sent: str, got: str) -> str | None:
    """How a server changed ``sent`` into ``got`` (``"trimmed / lower-cased"``), if it is a
    known mangling."""
    names = [name for name, change in TRANSFORMS.items() if change(sent) == got]
    return " / ".join(names) or None


def rule_for_book(
    served: Any, want: Book, default: str, *, before: Book | None = None, stale: str | None = None
) -> str | None:
    """Which requirement a served book breaks by differing from ``want`` (None if it does not).

    A JSON object with some but not all contract members, or one of the wrong JSON type, blames
    BOOK-SHAPE. Members left at their value from ``before`` blame ``stale`` (e.g. PUT-REPLACE),
    unless the new strings were merely trimmed, normalised or case-changed into it; other changed
    strings blame DATA-EXACT; anything else blames ``default``.
    """
    if not isinstance(served, dict):
        return default
    wrong = [m for m in MEMBERS if not same_member(served, want, m)]
    if not wrong:
        return None
    if shape_problem(served) is not None:
        return "BOOK-SHAPE" if any(m in served for m in MEMBERS) else default
    if stale is not None and "id" in wrong:
        return stale
    strings = all(isinstance(served.get(m), str) and isinstance(want[m], str) for m in wrong)
    known_mangling = strings and all(mangled(want[m], served[m]) for m in wrong)
    if (
        stale is not None
        and before is not None
        and not known_mangling  # a trimmed/normalised new value can look like the old one
        and all(same_member(served, before, m) for m in wrong)
    ):
        return stale
    return "DATA-EXACT" if strings else default


def diff_lines(served: Book, want: Book) -> list[str]:
    """One readable line per contract member that differs (ascii() shows invisible characters)."""
    lines = []
    for member in MEMBERS:
        if same_member(served, want, member):
            continue
        got = served.get(member, "<missing>")
        how = (
            mangled(want[member], got)
            if isinstance(got, str) and isinstance(want[member], str)
            else None
        )
        hint = f" (looks {how})" if how else ""
        lines.append(f"  {member}: want {want[member]!a}, got {got!a}{hint}")
    return lines


def mismatch(
    rule: str, what: str, served: Any, want: Book, exchange: Exchange | None, before: Book | None
) -> RequirementViolation:
    """The violation for a served book that differs from ``want``, with a readable diff."""
    if isinstance(served, dict):
        detail = "\n".join(diff_lines(served, want))
        if rule == "BOOK-SHAPE":
            detail += f"\n  ({shape_problem(served)})"
        elif before is not None and all(
            same_member(served, before, m) for m in MEMBERS if not same_member(served, want, m)
        ):
            kept = {m: before.get(m) for m in MEMBERS if not same_member(served, want, m)}
            detail += f"\n  (the values before the write were {kept!a})"
    else:
        detail = f"  not a JSON object: {served!a}"[:500]
    return RequirementViolation(rule, f"{what} differs from what was written:\n{detail}", exchange)


def check_book(
    what: str,
    served: Any,
    want: Book,
    default: str,
    exchange: Exchange | None,
    *,
    before: Book | None = None,
    stale: str | None = None,
) -> None:
    """Require that ``served`` is the book ``want``; blame the most specific requirement."""
    rule = rule_for_book(served, want, default, before=before, stale=stale)
    if rule is not None:
        raise mismatch(rule, what, served, want, exchange, before if rule == stale else None)


def check_put(
    answer: tuple[Any, Exchange], stored: tuple[Any, Exchange], want: Book, before: Book
) -> None:
    """Judge a PUT by its answer and a read right after it.

    Both stale: the book was not replaced (PUT-REPLACE). Answer stale, read right: it was, but
    the answer is not the replaced book (PUT-OK). Answer right, read stale: READ-YOUR-WRITES.
    """
    answered = rule_for_book(answer[0], want, "PUT-OK", before=before, stale="PUT-REPLACE")
    read_back = rule_for_book(
        stored[0], want, "READ-YOUR-WRITES", before=before, stale="READ-YOUR-WRITES"
    )
    if answered is None and read_back is None:
        return
    if answered is None:
        assert read_back is not None
        raise mismatch(read_back, "the book read after PUT", stored[0], want, stored[1], before)
    if answered == "PUT-REPLACE" and read_back is None:
        answered = "PUT-OK"  # stored as sent, but answered with the old book
    raise mismatch(answered, "the PUT answer", answer[0], want, answer[1], before)


def book_id_of(rule: str, served: Any, exchange: Exchange | None) -> int:
    """The integer id of the book an answer carries; anything else blames ``rule``."""
    book_id = served.get("id") if isinstance(served, dict) else None
    require(rule, type(book_id) is int, f"the answer is not a book with an integer id: "
            f"{served!a}"[:300], exchange)  # fmt: skip
    assert isinstance(book_id, int)
    return book_id


# -- requests whose answer is judged here ---------------------------------------------------------
PLAIN: dict[str, Any] = {"title": "x", "author": "x", "year": 1999}


def last(client: BooksClient) -> Exchange:
    """The exchange of the calling thread's latest request (its own, inside
    :meth:`BooksClient.parallel`, where ``client.history[-1]`` may be another thread's)."""
    return client.sent()


def send_raw(
    client: BooksClient, method: str, path: str, raw: bytes, *, rule: str | None = None
) -> httpx.Response:
    """Send ``raw`` bytes as an ``application/json`` body."""
    return client.request(method, path, content=raw, headers={"content-type": JSON}, rule=rule)


def read(client: BooksClient, book_id: int) -> tuple[httpx.Response, Exchange]:
    """GET a book this run expects to exist (READ-OK's request)."""
    response = client.get(f"/books/{book_id}", rule="READ-OK")
    return response, last(client)


def read_book(client: BooksClient, book_id: int) -> Any:
    """The body of a book this run expects to exist: a 200 is required (READ-OK)."""
    response, exchange = read(client, book_id)
    require("READ-OK", response.status_code == 200, f"GET got {response.status_code}", exchange)
    return response.json()


def require_gone(client: BooksClient, book: dict[str, Any]) -> None:
    """After a 204 DELETE: a GET that still finds the book blames DELETE-GONE; any other answer
    but 404 (``200 null``, a 410) blames READ-404."""
    response = client.get(f"/books/{book['id']}", rule="READ-404")
    status, exchange = response.status_code, last(client)
    if status == 404:
        return
    served = exchange.response_json()
    found = 200 <= status < 300 and isinstance(served, dict) and served.get("id") == book["id"]
    require("DELETE-GONE", not found, f"GET after DELETE got {status} and the book", exchange)
    require("READ-404", False, f"GET of a deleted book got {status}, want 404", exchange)


def put_book(client: BooksClient, book_id: int, body: Book) -> tuple[Any, Exchange]:
    """PUT a valid body to a book this run created: a 200 is required (PUT-OK), and an answer
    with another id blames PUT-REPLACE (the id is unchanged) before anything reads the old one.
    Returns the answer and its exchange."""
    response = client.put(f"/books/{book_id}", body, rule="PUT-OK")
    exchange = last(client)
    require("PUT-OK", response.status_code == 200, f"PUT got {response.status_code}", exchange)
    answer = exchange.response_json()
    moved = isinstance(answer, dict) and "id" in answer and answer["id"] != book_id
    require("PUT-REPLACE", not moved, f"PUT /books/{book_id} answered id "
            f"{answer.get('id') if isinstance(answer, dict) else None!r}: the id must not change",
            exchange)  # fmt: skip
    return answer, exchange


def forget(client: BooksClient, book_id: int) -> None:
    """Delete a book this test created and no longer needs; not a check (DELETE has its own)."""
    client.request("DELETE", f"/books/{book_id}", check=False)


def isolate(client: BooksClient, body: Book) -> tuple[str, Exchange] | None:
    """For a valid body a server rejected: the member that, replaced by a plain value (dropped
    for ``isbn``), makes the same body accepted — and that POST's exchange. Not a check."""
    for member in REQUEST_MEMBERS:
        if body.get(member) is None:
            continue
        candidate = (
            {**body, member: PLAIN[member]}
            if member in PLAIN
            else {k: v for k, v in body.items() if k != member}
        )
        response = client.request("POST", "/books", json_body=candidate, check=False)
        if response.status_code == 201:
            book = response.json()
            if isinstance(book, dict) and type(book.get("id")) is int:
                forget(client, book["id"])
            return member, last(client)
    return None


def require_accepted(
    client: BooksClient,
    body: Book,
    response: httpx.Response,
    exchange: Exchange,
    *,
    status: int,
    rule: str,
) -> None:
    """Require the answer ``status`` to a valid body. A 400/422 blames the rule of the member
    the server objects to (VAL-TEXT for a valid 500-code-point title counted in bytes, ...),
    found by :func:`isolate`; anything else blames ``rule``."""
    got = response.status_code
    if got == status:
        return
    culprit = isolate(client, body) if got in (400, 422) else None
    if culprit is not None:
        member, _ = culprit
        raise RequirementViolation(
            RULE_OF_MEMBER[member],
            f"a valid body got {got}: its {member} {body[member]!a} is valid, and the same body "
            f"with a plain {member} was accepted",
            exchange,
        )
    raise RequirementViolation(rule, f"a valid body got {got}, want {status}", exchange)


def created_book(
    client: BooksClient,
    body: Book,
    response: httpx.Response,
    exchange: Exchange,
    *,
    run_wide: bool = True,
) -> Book:
    """The book a POST of the valid ``body`` created. With ``run_wide``, an id this run saw
    deleted before blames ID-UNIQUE (ids are never reused)."""
    require_accepted(client, body, response, exchange, status=201, rule="CREATE-OK")
    book = response.json()
    require(
        "CREATE-OK",
        isinstance(book, dict)
        and type(book.get("id")) is int
        and 1 <= book["id"] <= limits().id_max,
        "the 201 body is not a book with an integer id",
        exchange,
    )
    if run_wide:
        require(
            "ID-UNIQUE",
            book["id"] not in client.ledger.deleted,
            f"the new book got id {book['id']}, which a book this run deleted had",
            exchange,
        )
    return book  # type: ignore[no-any-return]


def create(client: BooksClient, body: Book) -> Book:
    """Create a book for a test that needs one (CREATE-OK is required: 201 and the book)."""
    response = client.create(body)
    return created_book(client, body, response, last(client), run_wide=False)
