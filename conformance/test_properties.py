"""Hypothesis properties over HTTP: generated bodies and path ids from conformance.strategies.

Each property builds its ``@given`` function inside the test (the client and the search budget
come from fixtures), runs it with :func:`hypothesis_settings` — derandomised, no example
database, no deadline — and blames failures precisely with ``require(ID, ...)``. Hypothesis
shrinks a failure to a minimal body before the kit reports it.

Budgets (``--conformance-profile``): the round-trip and PUT properties try
``property_examples`` bodies; the others scale that number down because each example costs
several requests, and the invalid-body property tries every kind of invalid body instead.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance._cases import valid_body
from conformance._client import BooksClient
from conformance._exchange import Exchange
from conformance._judge import (
    MEMBERS,
    check_book,
    check_put,
    created_book,
    diff_lines,
    expected,
    forget,
    last,
    read,
    require_accepted,
    rule_for_book,
    same_member,
    send_raw,
)
from conformance._profiles import Profile
from conformance._search import FirstViolation, settings_for, show
from conformance._violation import RequirementViolation, require
from conformance.strategies import (
    INVALID_KINDS,
    KNOWN_MEMBERS,
    MARKER,
    bad_path_ids,
    bad_write_ids,
    bodies_with_unknown_members,
    invalid_bodies,
    valid_bodies,
)

requirement = pytest.mark.requirement
Book = dict[str, Any]


class Owned:
    """A book this run created, shared by the properties that write to one (one create for the
    module instead of one per test). Each property reads it first (:meth:`fetch`) rather than
    trusting an earlier state; if an earlier failure lost it, a new one replaces it, so one bug
    does not fail every later property."""

    def __init__(self, client: BooksClient) -> None:
        self.client = client
        self.id = self._create()

    def _create(self) -> int:
        body = valid_body()
        response = self.client.create(body)
        book_id: int = created_book(self.client, body, response, last(self.client))["id"]
        return book_id

    def fetch(self) -> Book:
        response, exchange = read(self.client, self.id)
        if response.status_code == 404:
            self.id = self._create()
            response, exchange = read(self.client, self.id)
        require("READ-OK", response.status_code == 200, f"GET got {response.status_code}", exchange)
        book: Book = response.json()
        return book


@pytest.fixture(scope="module")
def owned(books_client: BooksClient) -> Owned:
    """The module's shared book (see :class:`Owned`)."""
    return Owned(books_client)


# -- properties ----------------------------------------------------------------------------------


@requirement(
    "DATA-EXACT", "CREATE-OK", "READ-OK", "BOOK-SHAPE", "ID-UNIQUE", "VAL-TEXT", "VAL-YEAR",
    "VAL-ISBN",
)  # fmt: skip
def test_created_books_read_back_exactly(client: BooksClient, profile: Profile) -> None:
    """POST a generated valid body (escaped as ASCII or sent as raw UTF-8): it is accepted (a
    rejection blames the rule of the member the server objects to), the 201 body and a later GET
    carry every member exactly as sent, an absent isbn as null, and the id is new (the book is
    deleted right after, so a server that reuses ids shows it on the next example)."""

    guard = FirstViolation()

    @settings_for(profile.property_examples)
    @given(body=valid_bodies(), ascii_only=st.booleans())
    @guard.record
    def round_trip(body: Book, ascii_only: bool) -> None:
        show(body=body, ascii_only=ascii_only)
        raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8")
        response = send_raw(client, "POST", "/books", raw, rule="CREATE-OK")
        created = created_book(client, body, response, last(client))
        try:
            want = expected(body, created["id"])
            check_book("the 201 body", created, want, "CREATE-OK", last(client))
            got, exchange = read(client, created["id"])
            require("READ-OK", got.status_code == 200, f"GET got {got.status_code}", exchange)
            check_book("the book read back", got.json(), want, "READ-OK", exchange)
        finally:  # keep the store small (the final cleanup would delete it anyway)
            forget(client, created["id"])

    guard.run(round_trip, profile.shrink_seconds)


@requirement("PUT-REPLACE", "PUT-OK", "READ-YOUR-WRITES", "DATA-EXACT", "BOOK-SHAPE")
def test_put_replaces_the_whole_book(client: BooksClient, owned: Owned, profile: Profile) -> None:
    """PUT generated valid bodies to one book: each answer and the stored book equal exactly the
    body sent (an absent isbn becomes null, nothing of the old book survives, same id)."""
    state = {"book": owned.fetch()}
    book_id = owned.id
    path = f"/books/{book_id}"

    def put(body: Book) -> None:
        before = state["book"]
        response = client.put(path, body, rule="PUT-OK")
        answer = last(client)
        require_accepted(client, body, response, answer, status=200, rule="PUT-OK")
        want = expected(body, book_id)
        state["book"] = want
        got, stored = read(client, book_id)
        if got.status_code != 200:  # a wrong answer (e.g. another id) explains it best
            check_book("the PUT answer", response.json(), want, "PUT-OK", answer,
                       before=before, stale="PUT-REPLACE")  # fmt: skip
            raise RequirementViolation(
                "READ-YOUR-WRITES", f"GET after a 200 PUT got {got.status_code}", stored
            )
        check_put((response.json(), answer), (got.json(), stored), want, before)

    guard = FirstViolation()

    @settings_for(profile.property_examples)
    @given(body=valid_bodies(), setup=valid_bodies(isbn="present"))
    @guard.record
    def replace(body: Book, setup: Book) -> None:
        show(body=body, setup=setup)
        if "isbn" not in body and state["book"]["isbn"] is None:
            put(setup)  # an isbn to lose: an absent isbn must make it null
        put(body)

    guard.run(replace, profile.shrink_seconds)


def _invalid_params() -> list[Any]:
    return [
        pytest.param(
            kind,
            id=kind,
            marks=requirement(*dict.fromkeys((rule, "INVALID-4XX", "INVALID-UNCHANGED"))),
        )
        for kind, rule in INVALID_KINDS.items()
    ]


@pytest.mark.parametrize("kind", _invalid_params())
def test_invalid_bodies_are_rejected(
    client: BooksClient, owned: Owned, profile: Profile, kind: str
) -> None:
    """POST and PUT generated invalid bodies of one kind: each gets 400 or 422 (with a JSON
    object body: the client checks ERROR-JSON) and changes nothing. Accepting the body blames its
    own rule; another status blames INVALID-4XX; a stored row or a changed book blames
    INVALID-UNCHANGED (checked once after all examples, by the marker each body carries)."""
    baseline = owned.fetch()
    book_id = owned.id
    sent: dict[str, Exchange] = {}  # per-request marker -> the exchange that carried it

    guard = FirstViolation()

    @settings_for(profile.property_examples // 20, minimum=2)
    @given(case=invalid_bodies([kind]))
    @guard.record
    def rejected(case: Any) -> None:
        show(case=case)
        for method, path in (("POST", "/books"), ("PUT", f"/books/{book_id}")):
            marker = f"{MARKER} {book_id}/{kind} #{len(sent) + 1}"  # unique on the target
            raw = case.raw.replace(MARKER.encode(), marker.encode())
            response = send_raw(client, method, path, raw, rule="INVALID-4XX")
            exchange = sent[marker] = last(client)
            require(
                case.requirement,
                not response.is_success,
                f"{method} accepted an invalid body ({case.description})",
                exchange,
            )
            require(
                "INVALID-4XX",
                response.status_code in (400, 422),
                f"an invalid body ({case.description}) got {response.status_code}, want 400/422",
                exchange,
            )

    guard.run(rejected, profile.shrink_seconds)
    now, exchange = read(client, book_id)
    stored = now.json()
    if stored != baseline:
        texts = [stored.get(m) for m in ("title", "author")] if isinstance(stored, dict) else []
        culprits = [sent.get(text) for text in texts if isinstance(text, str)]
        culprit = next((c for c in culprits if c is not None), None)
        raise RequirementViolation(
            "INVALID-UNCHANGED",
            f"a rejected PUT changed book {book_id} to {stored!a}"
            + ("" if culprit is None else f"\nthe PUT that did it:\n{culprit.describe()}"),
            exchange,
        )
    listed = client.get("/books", rule="LIST-OK").json()
    for row in listed if isinstance(listed, list) else []:
        for member in ("title", "author"):
            text = row.get(member) if isinstance(row, dict) else None
            culprit = sent.get(text) if isinstance(text, str) else None
            if culprit is not None and culprit.method == "POST":
                raise RequirementViolation(
                    "INVALID-UNCHANGED", f"a rejected POST stored the book {row!a}", culprit
                )


@requirement("VAL-UNKNOWN", "VAL-CLIENT-ID", "INVALID-UNCHANGED")
def test_unknown_members_are_ignored_or_rejected(
    client: BooksClient, owned: Owned, profile: Profile
) -> None:
    """Valid bodies with unknown members (``id``, ``Title``, ``title ``, nested values, ...):
    either rejected with 400/422 and nothing changes, or accepted with the unknown members
    neither echoed nor stored, the known members exact, and the id not taken from the body."""
    state = {"book": owned.fetch()}
    book_id = owned.id
    count = iter(range(1, 10**9))

    guard = FirstViolation()

    @settings_for(profile.property_examples // 2)
    @given(body=bodies_with_unknown_members(), method=st.sampled_from(["POST", "PUT"]))
    @guard.record
    def ignored(body: Book, method: str) -> None:
        show(body=body, method=method)
        known = {k: v for k, v in body.items() if k in KNOWN_MEMBERS}
        unknown = {k: v for k, v in body.items() if k not in KNOWN_MEMBERS}
        if method == "POST":  # a marker to find a row stored by mistake
            body = {**body, "author": f"{MARKER} {book_id}/unknown #{next(count)}"}
            known["author"] = body["author"]
        path = "/books" if method == "POST" else f"/books/{book_id}"
        response = client.request(method, path, json_body=body, rule="VAL-UNKNOWN")
        exchange = last(client)
        if not response.is_success:
            require(
                "VAL-UNKNOWN",
                response.status_code in (400, 422),
                f"unknown members got {response.status_code}, want 2xx or 400/422",
                exchange,
            )
            if method == "PUT":
                now, _ = read(client, book_id)
                require(
                    "INVALID-UNCHANGED",
                    now.json() == state["book"],
                    f"a rejected PUT changed the book to {now.json()!a}",
                    exchange,
                )
            else:
                listed = client.get("/books", rule="LIST-OK").json()
                stored = [
                    b for b in listed if isinstance(b, dict) and b.get("author") == known["author"]
                ]
                require(
                    "INVALID-UNCHANGED", not stored, f"a rejected POST stored {stored!a}", exchange
                )
            return
        served = response.json()
        require(
            "VAL-UNKNOWN", isinstance(served, dict), "the answer is not a JSON object", exchange
        )
        served_id = served.get("id")
        if method == "PUT":
            require(
                "VAL-CLIENT-ID",
                served_id == book_id,
                f"PUT with a client id moved book {book_id} to {served_id!a}",
                exchange,
            )
        elif "id" in unknown and type(unknown["id"]) is int:
            require(
                "VAL-CLIENT-ID",
                served_id != unknown["id"],
                f"the server took the client id {unknown['id']}",
                exchange,
            )
        new_id = served_id if method == "POST" else book_id
        if type(new_id) is not int:
            raise RequirementViolation("VAL-UNKNOWN", f"no integer id in {served!a}", exchange)
        want = expected(known, new_id)
        got, read_exchange = read(client, new_id)
        if method == "POST":
            forget(client, new_id)
        if method == "PUT":
            state["book"] = got.json()  # what a later rejected PUT must leave alone
        for where, book, ex in (
            ("answered", served, exchange),
            ("stored", got.json(), read_exchange),
        ):
            leaked = {
                k
                for k, v in unknown.items()
                if k != "id" and isinstance(book, dict) and k in book and book[k] == v
            }
            require(
                "VAL-UNKNOWN",
                not leaked,
                f"unknown members {sorted(leaked)!a} were {where}: {book!a}",
                ex,
            )
            rule = rule_for_book(book, want, "VAL-UNKNOWN")
            if rule is not None and isinstance(book, dict):
                taken = [
                    m
                    for m in MEMBERS
                    if not same_member(book, want, m)
                    and any(book.get(m) == v for v in unknown.values())
                ]
                rule = "VAL-UNKNOWN" if taken else rule
            if rule is not None:
                lines = diff_lines(book, want) if isinstance(book, dict) else [f"  {book!a}"]
                raise RequirementViolation(
                    rule,
                    f"with unknown members, the book {where} differs:\n" + "\n".join(lines),
                    ex,
                )

    guard.run(ignored, profile.shrink_seconds)


@requirement("PATH-ID")
def test_bad_path_ids_get_404_400_or_422(
    client: BooksClient, owned: Owned, profile: Profile
) -> None:
    """GET generated non-ids (any text, 0, negatives, floats, integers from 2^63); PUT and DELETE
    only non-ids derived from a book this run owns (so a server that mis-parses them cannot
    touch anyone else's book). Every answer is 400, 404 or 422, and the owned book is unchanged."""
    baseline = owned.fetch()
    book_id = owned.id
    body = valid_body()
    requests = st.one_of(
        st.tuples(st.just("GET"), bad_path_ids()),
        st.tuples(st.sampled_from(["PUT", "DELETE"]), bad_write_ids(book_id)),
    )

    guard = FirstViolation()

    @settings_for(profile.property_examples)
    @given(request=requests)
    @guard.record
    def not_found(request: tuple[str, str]) -> None:
        show(request=request)
        method, segment = request
        kwargs: dict[str, Any] = {"json_body": body} if method == "PUT" else {}
        try:
            response = client.request(method, f"/books/{segment}", rule="PATH-ID", **kwargs)
        except ValueError:  # the client could not book-keep a 204 for a non-integer id
            raise RequirementViolation(
                "PATH-ID", f"{method} on a bad id got a 204", last(client)
            ) from None
        require(
            "PATH-ID",
            response.status_code in (400, 404, 422),
            f"{method} /books/{segment} got {response.status_code}, want 404, 400 or 422",
            last(client),
        )

    guard.run(not_found, profile.shrink_seconds)
    now, exchange = read(client, book_id)
    require(
        "PATH-ID",
        now.status_code == 200 and now.json() == baseline,
        f"PUT/DELETE on bad ids derived from {book_id} changed that book",
        exchange,
    )


@requirement(
    "LIST-OK", "LIST-ORDER", "DATA-EXACT", "ID-UNIQUE", "BOOK-SHAPE", "PUT-REPLACE", "PUT-OK",
    "READ-YOUR-WRITES",
)  # fmt: skip
def test_list_has_every_book_in_id_order(client: BooksClient, profile: Profile) -> None:
    """Create a few generated books (and replace an older one, so an order by update time or
    title shows): ``GET /books`` lists each of them exactly, and the whole list (other rows
    included) is in strictly ascending id order."""
    mine: dict[int, Book] = {}

    guard = FirstViolation()

    @settings_for(profile.property_examples // 4)
    @given(
        bodies=st.lists(valid_bodies(), min_size=1, max_size=3),
        replace=st.none() | st.tuples(st.integers(0, 100), valid_bodies()),
    )
    @guard.record
    def listed(bodies: list[Book], replace: tuple[int, Book] | None) -> None:
        show(bodies=bodies, replace=replace)
        touched: list[int] = []  # this example's books: the ones judged
        try:
            list_example(bodies, replace, touched)
        except RequirementViolation:
            for book_id in touched:  # their state is unknown now: keep them out of later examples
                mine.pop(book_id, None)
            raise

    def list_example(
        bodies: list[Book], replace: tuple[int, Book] | None, touched: list[int]
    ) -> None:
        previous: dict[int, Book] = {}  # the replaced book as it was
        replaced: tuple[int, Any, Exchange] | None = None  # its id, the PUT answer and exchange
        for body in bodies:
            created = created_book(client, body, client.create(body), last(client))
            mine[created["id"]] = expected(body, created["id"])
            touched.append(created["id"])
        if replace is not None:  # an older book, so an order by update time shows
            target = sorted(mine)[replace[0] % len(mine)]
            touched.append(target)
            response = client.put(f"/books/{target}", replace[1], rule="PUT-OK")
            require_accepted(client, replace[1], response, last(client), status=200, rule="PUT-OK")
            previous[target] = mine[target]
            mine[target] = expected(replace[1], target)
            replaced = (target, response.json(), last(client))  # judged with the list
        response = client.get("/books", rule="LIST-OK")
        exchange = last(client)
        require("LIST-OK", response.status_code == 200, f"got {response.status_code}", exchange)
        books = response.json()
        require("LIST-OK", isinstance(books, list), "GET /books is not a JSON array", exchange)
        ids = [b.get("id") if isinstance(b, dict) else None for b in books]
        listed_ids = {i for i in ids if type(i) is int}
        by_id = {b["id"]: b for b in books if isinstance(b, dict) and type(b.get("id")) is int}
        if replaced is not None:  # answer and list tell a wrong answer from a partial update
            put_id, put_answer, put_exchange = replaced
            want, before = mine[put_id], previous[put_id]
            if put_id in by_id:
                check_put((put_answer, put_exchange), (by_id[put_id], exchange), want, before)
            else:  # an answer with another id explains a missing book best
                check_book("the PUT answer", put_answer, want, "PUT-OK", put_exchange,
                           before=before, stale="PUT-REPLACE")  # fmt: skip
        missing = sorted(set(touched) - listed_ids)
        require("LIST-OK", not missing, f"books {missing} are missing from the list", exchange)
        unordered = [
            (a, b)
            for a, b in itertools.pairwise(ids)
            if not (type(a) is int and type(b) is int and a < b)
        ]
        require(
            "LIST-ORDER",
            not unordered,
            f"ids not strictly ascending, e.g. {unordered[:3]} in {ids[-20:]}",
            exchange,
        )
        for book_id in touched:
            check_book(
                f"book {book_id} in the list",
                by_id[book_id],
                mine[book_id],
                "LIST-OK",
                exchange,
                before=previous.get(book_id),
                stale="PUT-REPLACE",
            )

    guard.run(listed, profile.shrink_seconds)
