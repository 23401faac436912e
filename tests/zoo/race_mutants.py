"""Race mutants that only a linearizability check of concurrent histories catches.

Each is a bug real servers have had, and each passes every check the kit had before
CONC-LINEARIZABLE: the bursts of one kind (32 creates, 32 PUTs, a DELETE racing GETs) and the
sequential layers. Like the race mutants in ``mutants.py`` each carries a hook (see there and
docs/race-rates.md): once other requests are in flight, the racing step is held, bounded by
``HOLD``, until the bad interleaving has happened or every other request in the app is held
too; a request alone in the app never holds, so sequential traffic sees the correct behaviour.

Registered with :func:`~.mutants.mutant` like every mutant; ``RACE_MUTANTS`` lists them (the
zoo's ``__main__`` serves them beside ``MUTANTS``).
"""

from __future__ import annotations

from typing import Any

import httpx

from .app import Book, Fields
from .mutants import (
    WIDTH,
    Hooked,
    HookedStore,
    Mutant,
    _registered,
    book_body,
    create,
    expected,
    json_of,
    listed_ids,
    mutant,
    round_trip,
    together,
    where,
)


class HeldStore(HookedStore):
    """A hooked store that counts the requests it holds, so a hold can end once every request
    still in the app is held (nothing else can happen then)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0

    async def hold_until(self, until: Any) -> None:
        """Hold (bounded) until ``until()`` or until every request in flight is held."""
        self.held += 1
        self.hook.poke()
        try:
            await self.hook.hold(lambda: until() or self.in_flight <= self.held)
        finally:
            self.held -= 1
            self.hook.poke()


def _numbered(index: int) -> dict[str, Any]:
    return book_body(
        title=f"title {index}", author=f"author {index}", year=index, isbn=f"isbn {index}"
    )


# -- a PUT racing a DELETE resurrects the book ----------------------------------------------------
class UpsertAfterCheckStore(HeldStore):
    """PUT checks that the row exists, then writes it with an upsert in a second round trip
    (``INSERT ... ON CONFLICT UPDATE`` instead of ``UPDATE ... WHERE id``): a DELETE in between
    is undone. Hook: a PUT that found the row waits for a DELETE of it (or for the burst to
    settle) before writing."""

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        if book_id not in self._books:
            return None
        await round_trip(0.001)
        if not self.alone:
            await self.hold_until(lambda: book_id not in self._books)
        book = {"id": book_id, **fields}
        self._books[book_id] = book  # the bug: an upsert resurrects a book deleted meanwhile
        return dict(book)


async def probe_put_racing_delete(c: httpx.AsyncClient) -> None:
    item = f"/books/{(await create(c))['id']}"
    calls = [("PUT", item, _numbered(i)) for i in range(WIDTH - 1)] + [("DELETE", item, None)]
    responses = await together(c, calls)
    if responses[-1].status_code == 204:
        after = await c.get(item)
        assert after.status_code == 404, f"deleted, yet after the race: {where(after)}"


#: Runs of the suite the self-check may take to see one of these races: each was killed in 19 or
#: 20 of 20 default-profile runs on a loaded box (docs/kill-matrix-races.md); at the 95% upper
#: bound of the miss rate for 19/20 (0.25), 10 runs all miss with probability 0.25^10 < 1e-6.
ATTEMPTS = 10


@mutant(
    "put-resurrects-deleted",
    "CONC-LINEARIZABLE",
    "PUT checks the row exists, then upserts it in a second round trip: a PUT racing a DELETE "
    "brings the deleted book back.",
    probe_put_racing_delete,
    also=("DELETE-GONE",),
    needs_server=True,
    only="concurrency",
    attempts=ATTEMPTS,
)
class PutResurrectsDeleted(Hooked):
    store_class = UpsertAfterCheckStore


# -- the list lags concurrent writes --------------------------------------------------------------
class IdleRefreshedListStore(HeldStore):
    """The list is served from a cache that is refreshed only when the server is idle (a
    load-shedding cache): under load it lags every write since the last quiet moment."""

    def __init__(self) -> None:
        super().__init__()
        self._cached: list[Book] = []

    async def list(self) -> list[Book]:
        await round_trip(0.002)  # asks the cache how busy the server is: others arrive meanwhile
        if self.alone:
            self._cached = await super().list()
        return [dict(book) for book in self._cached]


async def probe_list_under_load(c: httpx.AsyncClient) -> None:
    await listed_ids(c)  # alone: refreshes the cache
    book = await create(c)
    responses = await together(c, [("GET", "/books", None)] * WIDTH)
    for response in responses:
        ids = [b.get("id") for b in json_of(response)]
        assert book["id"] in ids, f"book {book['id']}, created before, is not listed: {ids}"


@mutant(
    "list-lags-writes",
    "CONC-LINEARIZABLE",
    "Under load GET /books is served from a cache refreshed only when the server is idle: the "
    "list misses writes that completed before it was sent.",
    probe_list_under_load,
    also=("LIST-OK",),
    needs_server=True,
    only="concurrency",
    attempts=ATTEMPTS,
)
class ListLagsWrites(Hooked):
    store_class = IdleRefreshedListStore


# -- an id handed out twice, only under contention -----------------------------------------------
class MaxPlusOneStore(HeldStore):
    """Ids come from a cached counter, but when other requests are in flight the allocator
    falls back to ``MAX(id) + 1`` of the table: after a DELETE of the newest book, the next
    create under load gets that book's id again. Hook: a create under load waits for the rest
    of the burst (its DELETEs) before it allocates."""

    async def create(self, fields: Fields) -> Book:
        await round_trip(0.002)  # checks the cached counter is current: others arrive meanwhile
        if self.alone:
            book_id = self.allocate_id()
        else:
            await self.hold_until(lambda: False)
            book_id = max(self._books, default=0) + 1  # the bug: reuses the newest deleted id
            self._last_id = max(self._last_id, book_id)
        book = {"id": book_id, **fields}
        self._books[book_id] = book
        return dict(book)


async def probe_create_racing_delete(c: httpx.AsyncClient) -> None:
    newest = await create(c)
    calls = [("DELETE", f"/books/{newest['id']}", None)]
    calls += [("POST", "/books", _numbered(i)) for i in range(WIDTH - 1)]
    responses = await together(c, calls)
    ids = [json_of(r).get("id") for r in responses[1:] if r.status_code == 201]
    assert newest["id"] not in ids, f"id {newest['id']} was handed out again after its delete"


@mutant(
    "id-reused-under-load",
    "CONC-LINEARIZABLE",
    "Under contention ids come from MAX(id)+1 instead of the sequence: a create racing the "
    "DELETE of the newest book gets its id again.",
    probe_create_racing_delete,
    also=("ID-UNIQUE",),
    needs_server=True,
    only="concurrency",
    attempts=ATTEMPTS,
)
class IdReusedUnderLoad(Hooked):
    store_class = MaxPlusOneStore


# -- a PUT answers with another writer's book -----------------------------------------------------
class RereadAfterPutStore(HeldStore):
    """PUT writes the row, then reads it back in a second statement (no ``RETURNING``, no
    transaction) and answers what it read: a concurrent PUT of the same book in between makes
    it answer the other writer's body. Hook: the read-back waits for another write of the book
    (or for the burst to settle)."""

    def __init__(self) -> None:
        super().__init__()
        self._writes: dict[int, int] = {}

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        if book_id not in self._books:
            return None
        self._books[book_id] = {"id": book_id, **fields}
        mine = self._writes[book_id] = self._writes.get(book_id, 0) + 1
        self.hook.poke()
        await round_trip(0.001)
        if not self.alone:
            await self.hold_until(lambda: self._writes.get(book_id, 0) > mine)
        row = self._books.get(book_id)  # the bug: answers the row as it is now
        return None if row is None else dict(row)


async def probe_put_answers(c: httpx.AsyncClient) -> None:
    book = await create(c)
    bodies = [_numbered(i) for i in range(WIDTH)]
    calls = [("PUT", f"/books/{book['id']}", body) for body in bodies]
    for body, response in zip(bodies, await together(c, calls), strict=True):
        assert json_of(response) == expected(body, book["id"]), f"answered {where(response)}"


@mutant(
    "put-answers-other-write",
    "CONC-LINEARIZABLE",
    "PUT writes, then reads the row back in a second statement and answers that: racing PUTs "
    "of one book get each other's bodies as their answers.",
    probe_put_answers,
    also=("CONC-PUT", "PUT-OK"),
    needs_server=True,
    only="concurrency",
    attempts=ATTEMPTS,
)
class PutAnswersOtherWrite(Hooked):
    store_class = RereadAfterPutStore


# -- read-modify-write of the whole collection ---------------------------------------------------
class DocumentStore(HeldStore):
    """The books live in one document (a JSON column, a key-value entry); PUT and DELETE read
    it, change one book and write the whole document back, without a transaction or a version
    check: concurrent writes to *other* books are lost (a deleted book comes back, a created or
    replaced one is undone). Creates append atomically. Hook: a write under load waits for
    another write (or for the burst to settle) before writing the document back."""

    def __init__(self) -> None:
        super().__init__()
        self._version = 0

    async def _rewrite(self, book_id: int, book: Book | None) -> bool:
        document = {key: dict(value) for key, value in self._books.items()}  # read
        if book_id not in document:
            return False
        if book is None:
            del document[book_id]
        else:
            document[book_id] = book
        seen = self._version
        await round_trip(0.001)
        if not self.alone:
            await self.hold_until(lambda: self._version > seen)
        self._books = document  # the bug: overwrites what others wrote meanwhile
        self._version += 1
        self.hook.poke()
        return True

    async def create(self, fields: Fields) -> Book:
        book = await super().create(fields)
        self._version += 1
        self.hook.poke()
        return book

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        book = {"id": book_id, **fields}
        return dict(book) if await self._rewrite(book_id, book) else None

    async def delete(self, book_id: int) -> bool:
        return await self._rewrite(book_id, None)


async def probe_writes_to_two_books(c: httpx.AsyncClient) -> None:
    kept, gone = await create(c), await create(c)
    calls = [("DELETE", f"/books/{gone['id']}", None)]
    calls += [("PUT", f"/books/{kept['id']}", _numbered(i)) for i in range(WIDTH - 1)]
    responses = await together(c, calls)
    assert responses[0].status_code == 204, where(responses[0])
    after = await c.get(f"/books/{gone['id']}")
    assert after.status_code == 404, f"deleted, yet after the race: {where(after)}"


@mutant(
    "document-lost-update",
    "CONC-LINEARIZABLE",
    "Books live in one document rewritten whole by every PUT and DELETE without a transaction: "
    "a write to one book undoes concurrent writes to others.",
    probe_writes_to_two_books,
    also=("DELETE-GONE",),
    needs_server=True,
    only="concurrency",
    attempts=ATTEMPTS,
)
class DocumentLostUpdate(Hooked):
    store_class = DocumentStore


RACE_MUTANTS: tuple[Mutant, ...] = tuple(
    m for m in _registered if m.app_class.__module__ == __name__
)
