"""Model-based testing: a Hypothesis ``RuleBasedStateMachine`` drives the target over HTTP and
checks it against an in-memory model of the books this machine created.

Rules: create, get, put, delete, revisit, list and get-unknown. ``books`` holds the machine's live
ids (at most ``LIVE_MAX``, so rules keep meeting the same few books: a PUT then a DELETE of one
book, a read after a PUT); a DELETE moves the id to ``gone``, where ``revisit`` GETs, PUTs and
DELETEs it again (expect 404), so id reuse and resurrection are explored; get-unknown reads ids
the whole run deleted. After every delete an invariant compares ``GET /books`` with the model,
restricted to the machine's own ids (the store may hold other rows, created by anyone); the
``list`` rule does the same at random points. A PUT always changes the book (a body equal to the
book gets its year moved by one), so a stale read or an ignored PUT shows. Bodies are plain text:
the machine's job is sequences, the properties' job is text. The machine writes only to ids it
created itself, and deletes what it left at the end of each run, so the lists it reads stay short
even while Hypothesis replays hundreds of runs to shrink a failure.

The checks look at the machine's own books (the order of its ids in the list, what it reads back):
a failure must replay the same way, whatever else the store holds. The one exception is id reuse:
a new id is also compared with every id the run deleted, since a store that the teardowns emptied
hands out reused ids that no single sequence has seen.

Failures are raised with ``require(<specific ID>, ...)`` so the report files them under the rule
that broke; Hypothesis shrinks the step sequence, prints it as Python, and the ``note()`` of every
HTTP exchange shows what was sent and received at each step. Should a failure still not replay
(the target changed between runs), the first violation is reported unshrunk, with its exchanges,
instead of Hypothesis' ``Flaky`` error (see ``FirstViolation`` in _search.py).

Pattern for handing the client in: the machine reads it from the class attribute ``client``;
:meth:`BooksMachine.bound_to` returns a subclass with it set, so no global state is shared::

    run_state_machine_as_test(BooksMachine.bound_to(client), settings=...)
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance._client import BooksClient
from conformance._exchange import Exchange
from conformance._judge import (
    check_book,
    check_put,
    created_book,
    expected,
    require_accepted,
    rule_for_book,
    shape_problem,
)
from conformance._profiles import Profile, hypothesis_settings
from conformance._search import PROPERTY_PHASES, FirstViolation
from conformance._violation import RequirementViolation, require
from conformance.strategies import CONTRACT_CHARS, INT32_MIN, years

requirement = pytest.mark.requirement
Book = dict[str, Any]
#: The machine's bodies: plain letters and digits. Its job is sequences (ids, PUT, DELETE, the
#: list); exploring text is the properties' job, and a body the size of theirs at every step
#: would overrun Hypothesis' data budget per run (the run is thrown away, its requests wasted).
PLAIN = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
BODIES = st.fixed_dictionaries(
    {"title": PLAIN, "author": PLAIN, "year": years()},
    optional={"isbn": st.one_of(st.none(), PLAIN)},
)
#: At most this many live books per run: a small store makes every rule meet the same few books
#: again (a PUT then a DELETE of one book, a read after both) instead of spreading over many.
LIVE_MAX = 3
#: Query strings for ``GET /books``: the contract defines no parameter, so all must be ignored.
QUERIES = st.one_of(
    st.just(""),
    st.sampled_from(["?limit=1", "?offset=1&limit=1", "?page=2&per_page=1", "?sort=-id",
                     "?order=desc", "?q=zzz", "?title=nothing", "?fields=id", "?id=1"]),
    st.dictionaries(
        st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8),
        st.text(CONTRACT_CHARS, max_size=8),
        min_size=1,
        max_size=2,
    ).map(lambda params: "?" + urlencode(params)),
)  # fmt: skip
T = TypeVar("T")
_NO_BODY: Any = object()


def recorded(step: Callable[..., T]) -> Callable[..., T]:
    """Remember every violation a step raises in the bound machine's ``violations``."""

    @functools.wraps(step)
    def wrapper(self: BooksMachine, *args: Any, **kwargs: Any) -> T:
        try:
            return step(self, *args, **kwargs)
        except RequirementViolation as violation:
            self.violations.add(violation, "\n".join(self.trace))
            raise

    return wrapper


class BooksMachine(RuleBasedStateMachine):
    """The Books API as a model: ``live`` maps each of the machine's ids to the book it must be,
    ``deleted`` holds the machine's ids that must stay gone.

    Example (the client comes from the kit's ``client`` fixture)::

        run_state_machine_as_test(
            BooksMachine.bound_to(client),
            settings=hypothesis_settings(15, stateful_step_count=30),
        )
    """

    client: ClassVar[BooksClient]
    #: Ids the run had deleted when the machine was bound: fixed for the whole search, since
    #: what Hypothesis generates must not depend on state that changes between its runs.
    deleted_before: ClassVar[tuple[int, ...]] = ()
    #: Violations seen during the search (see :class:`FirstViolation`).
    violations: ClassVar[FirstViolation]
    books = Bundle("books")  # the machine's live books
    gone = Bundle("gone")  # the ones it deleted: still in play, so reuse and resurrection show

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, Book] = {}
        self.previous: dict[int, Book] = {}  # the state before the last PUT, to spot stale reads
        self.deleted: set[int] = set()
        self.graveyard: dict[int, Book] = {}  # each deleted book as it was
        self.list_stale = False
        self.trace: list[str] = []  # every exchange of this run, for reports

    @classmethod
    def bound_to(cls, client: BooksClient) -> type[BooksMachine]:
        """A subclass of this machine that talks to the target through ``client``."""
        deleted = tuple(sorted(client.ledger.deleted))[-20:]
        attributes = {"client": client, "deleted_before": deleted, "violations": FirstViolation()}
        return type(cls.__name__, (cls,), attributes)

    # -- HTTP, with every exchange noted for the failure report ----------------------------------
    def send(
        self, method: str, path: str, body: Any = _NO_BODY, rule: str | None = None
    ) -> tuple[httpx.Response, Exchange]:
        kwargs: dict[str, Any] = {"rule": rule} if body is _NO_BODY else {"json_body": body,
                                                                          "rule": rule}  # fmt: skip
        sent = len(self.client.history)
        try:
            response = self.client.request(method, path, **kwargs)
        finally:
            for exchange in self.client.history[sent:]:
                self.trace.append(exchange.describe())
                note(self.trace[-1])
        return response, self.client.history[-1]

    # -- rules -----------------------------------------------------------------------------------
    @initialize(target=books, body=BODIES)
    @recorded
    def create_first(self, body: Book) -> int:
        """Every run starts with a book, so no run is spent on an empty bundle."""
        return self._create(body)

    @precondition(lambda self: len(self.live) < LIVE_MAX)
    @rule(target=books, body=BODIES)
    @recorded
    def create(self, body: Book) -> int:
        return self._create(body)

    def _create(self, body: Book) -> int:
        response, exchange = self.send("POST", "/books", body, "CREATE-OK")
        created = created_book(self.client, body, response, exchange, run_wide=False)
        book_id: int = created["id"]
        if book_id in self.live or book_id in self.deleted:
            state = "deleted" if book_id in self.deleted else "still live"
            require(
                "ID-UNIQUE",
                False,
                f"POST gave the new book id {book_id}, which an earlier book of this sequence "
                f"had ({state}): ids must never be reused",
                exchange,
            )
        want = expected(body, book_id)
        self.live[book_id] = want  # (teardown deletes it even if a check below fails)
        # Also against every id the run deleted: a store emptied by earlier sequences may hand
        # out id 1 again (max + 1 of no rows), which this sequence never saw.
        require(
            "ID-UNIQUE",
            book_id not in self.client.ledger.deleted,
            f"POST gave the new book id {book_id}, which a book this run deleted earlier (in "
            "another sequence or test) had: ids must never be reused",
            exchange,
        )
        check_book("the 201 body", created, want, "CREATE-OK", exchange)
        return book_id

    @rule(book_id=books)
    @recorded
    def get(self, book_id: int) -> None:
        response, exchange = self.send("GET", f"/books/{book_id}", rule="READ-OK")
        status = response.status_code
        require("READ-YOUR-WRITES", status != 404, f"GET of book {book_id} got 404", exchange)
        require("READ-OK", status == 200, f"GET of book {book_id} got {status}", exchange)
        self._check_read(f"GET of book {book_id}", response.json(), book_id, exchange)

    @rule(book_id=books, body=BODIES)
    @recorded
    def put(self, book_id: int, body: Book) -> None:
        if expected(body, book_id) == self.live[book_id]:  # a PUT that changes nothing hides a
            year = body["year"]  # stale read or an ignored PUT: change the year by one
            body = {**body, "year": year + 1 if year == INT32_MIN else year - 1}
        response, exchange = self.send("PUT", f"/books/{book_id}", body, "PUT-OK")
        require_accepted(self.client, body, response, exchange, status=200, rule="PUT-OK")
        before, want = self.live[book_id], expected(body, book_id)
        self.previous[book_id], self.live[book_id] = before, want
        if rule_for_book(response.json(), want, "PUT-OK") is not None:
            # Was the book replaced (so only the answer is wrong) or not? A read tells.
            got, read_exchange = self.send("GET", f"/books/{book_id}")
            check_put((response.json(), exchange), (got.json(), read_exchange), want, before)

    @rule(target=gone, book_id=consumes(books))
    @recorded
    def delete(self, book_id: int) -> int:
        response, exchange = self.send("DELETE", f"/books/{book_id}", rule="DELETE-OK")
        status = response.status_code
        require("DELETE-OK", status == 204, f"DELETE of book {book_id} got {status}", exchange)
        self.graveyard[book_id] = self.live.pop(book_id)
        self.deleted.add(book_id)
        self.list_stale = True
        return book_id

    @rule(book_id=gone, method=st.sampled_from(["GET", "PUT", "DELETE"]), body=BODIES)
    @recorded
    def revisit(self, book_id: int, method: str, body: Book) -> None:
        """GET, PUT or DELETE a book the machine deleted: each gets 404 and nothing comes back."""
        if method == "GET":
            response, exchange = self.send("GET", f"/books/{book_id}", rule="DELETE-GONE")
            self._check_gone(book_id, response, exchange, f"GET of deleted book {book_id}")
        elif method == "PUT":
            response, exchange = self.send("PUT", f"/books/{book_id}", body, "PUT-404")
            status = response.status_code
            require(
                "PUT-404",
                status == 404,
                f"PUT to deleted book {book_id} got {status}, want 404 (PUT never creates)",
                exchange,
            )
        else:
            response, exchange = self.send("DELETE", f"/books/{book_id}", rule="DELETE-404")
            status = response.status_code
            if status != 404:  # a second DELETE: is the book back, or is only the answer wrong?
                got, read_exchange = self.send("GET", f"/books/{book_id}")
                if got.status_code == 404:
                    raise RequirementViolation(
                        "DELETE-404",
                        f"DELETE of book {book_id}, deleted before, got {status}, want 404",
                        exchange,
                    )
                self._check_gone(book_id, got, read_exchange, f"a second DELETE got {status}; GET")

    @rule(query=QUERIES)
    @recorded
    def list(self, query: str) -> None:
        """List the books, sometimes with query parameters the contract does not define."""
        self._check_list(query)

    @precondition(lambda self: bool(self.deleted or self.deleted_before))
    @rule(data=st.data())
    @recorded
    def get_unknown(self, data: st.DataObject) -> None:
        """GET an id this run deleted (in this machine or, before it started, elsewhere)."""
        book_id = data.draw(st.sampled_from(sorted(self.deleted) + list(self.deleted_before)))
        response, exchange = self.send("GET", f"/books/{book_id}", rule="DELETE-GONE")
        self._check_gone(
            book_id, response, exchange, f"GET of book {book_id}, deleted by this run,"
        )

    def _check_gone(
        self, book_id: int, response: httpx.Response, exchange: Exchange, what: str
    ) -> None:
        """A read of a deleted id must get 404. A 2xx with the deleted book blames DELETE-GONE,
        with another book ID-UNIQUE (the id was handed out again), with anything else READ-404."""
        status = response.status_code
        if status == 404:
            return
        served = response.json() if 200 <= status < 300 else None
        if not isinstance(served, dict) or shape_problem(served) is not None:
            rule = "READ-404"
        elif book_id in self.graveyard and served == {**served, **self.graveyard[book_id]}:
            rule = "DELETE-GONE"
        elif book_id in self.graveyard or book_id in self.client.ledger.live:
            rule = "ID-UNIQUE"  # another book of this run now has the id
        else:
            rule = "DELETE-GONE"
        raise RequirementViolation(rule, f"{what} got {status}, want 404", exchange)

    def teardown(self) -> None:
        """Delete the books this run left (keeps the store, and every later list, small: shrinking
        replays many runs). Not a check: the answers are judged by the rules, not here."""
        for book_id in sorted(self.live):
            self.client.request("DELETE", f"/books/{book_id}", check=False)

    # -- invariants ------------------------------------------------------------------------------
    @precondition(lambda self: self.list_stale)
    @invariant()
    @recorded
    def list_matches_the_model(self) -> None:
        """After every DELETE, the list agrees with the model on the machine's own ids (after
        other writes that is left to the ``list`` rule, to keep the request count down)."""
        self._check_list()

    def _check_read(self, what: str, served: Any, book_id: int, exchange: Exchange) -> None:
        check_book(
            what,
            served,
            self.live[book_id],
            "READ-YOUR-WRITES",
            exchange,
            before=self.previous.get(book_id),
            stale="READ-YOUR-WRITES",
        )

    def _check_list(self, query: str = "") -> None:
        rule = "LIST-QUERY" if query else "LIST-OK"
        response, exchange = self.send("GET", f"/books{query}", rule=rule)
        self.list_stale = False
        books = response.json()
        require(
            "LIST-QUERY" if query else "LIST-OK",
            response.status_code == 200 and isinstance(books, list),
            f"GET /books{query} got {response.status_code} {str(books)[:200]}",
            exchange,
        )
        # Only the machine's own ids count: the rest of the store may change between runs, and
        # Hypothesis needs a failure to replay the same way (the list properties check it all).
        own = set(self.live) | self.deleted
        ids = [
            book["id"]
            for book in books
            if isinstance(book, dict) and type(book.get("id")) is int and book["id"] in own
        ]
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)
        require("ID-UNIQUE", not twice, f"ids {twice} are listed more than once", exchange)
        unordered = [(a, b) for a, b in itertools.pairwise(ids) if not a < b]
        require(
            "LIST-ORDER",
            not unordered,
            f"GET /books lists this machine's books out of id order: {ids}",
            exchange,
        )
        listed = {
            book["id"]: book
            for book in books
            if isinstance(book, dict) and type(book.get("id")) is int
        }
        missing = sorted(set(self.live) - set(listed))
        require("LIST-OK", not missing, f"books {missing} are missing from the list", exchange)
        gone = sorted(self.deleted & set(listed))
        require("DELETE-GONE", not gone, f"deleted books {gone} are still listed", exchange)
        for book_id in self.live:
            self._check_read(f"book {book_id} in the list", listed[book_id], book_id, exchange)


@requirement(
    "CREATE-OK", "ID-UNIQUE", "READ-OK", "READ-404", "READ-YOUR-WRITES", "PUT-OK", "PUT-REPLACE",
    "PUT-404", "DELETE-OK", "DELETE-404", "DELETE-GONE", "LIST-OK", "LIST-ORDER", "LIST-QUERY",
    "DATA-EXACT", "BOOK-SHAPE",
)  # fmt: skip
def test_books_behave_like_the_model(client: BooksClient, profile: Profile) -> None:
    """Random sequences of create/get/put/delete/list on the machine's own books (deleted ids
    included) agree with an in-memory model; the first disagreement is shrunk and filed under the
    rule it breaks."""
    settings = hypothesis_settings(
        profile.stateful_examples,
        stateful_step_count=profile.stateful_steps,
        report_multiple_bugs=False,
        phases=PROPERTY_PHASES,
    )
    machine = BooksMachine.bound_to(client)
    machine.violations.run(
        lambda: run_state_machine_as_test(machine, settings=settings), profile.shrink_seconds
    )
