"""The kit's HTTP client: records every exchange, applies the global response rules, keeps the
hygiene ledger so the kit only ever writes to books it created itself, and notices a target that
stopped answering."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from conformance._exchange import Exchange
from conformance._registry import limits
from conformance._violation import WANTS, HygieneError, RequirementViolation, TargetGone

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
_UNSET: Any = object()
#: Requests in flight at once for independent checks and cleanup (--conformance-concurrency).
CONCURRENCY = 8
#: Batch numbers of :meth:`BooksClient.parallel` (apart from the concurrency layer's).
_batches = itertools.count(1_000_001)
T = TypeVar("T")
#: After this many requests in a row got no answer, the target counts as gone (see TargetGone).
SILENT_LIMIT = 3


def media_type(headers: httpx.Headers | dict[str, str]) -> str:
    """The bare media type of a Content-Type header, lower-cased."""
    return headers.get("content-type", "").split(";")[0].strip().lower()


class Ledger:
    """Ids this kit run created. Writes (PUT/DELETE) are allowed only on these, live or deleted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.live: dict[int, None] = {}
        self.deleted: set[int] = set()

    def created(self, book_id: int) -> None:
        with self._lock:
            self.live[book_id] = None

    def removed(self, book_id: int) -> None:
        with self._lock:
            self.live.pop(book_id, None)
            self.deleted.add(book_id)

    def owns(self, book_id: int) -> bool:
        with self._lock:
            return book_id in self.live or book_id in self.deleted

    def all_ids(self) -> set[int]:
        with self._lock:
            return set(self.live) | self.deleted


Violation = Callable[[RequirementViolation], None]


def _raise(violation: RequirementViolation) -> None:
    raise violation


class BooksClient:
    """Speaks HTTP to one target. Thread-safe for the concurrency checks.

    Every response is checked against the rules that hold for all responses (NO-5XX, ERROR-JSON,
    SUCCESS-JSON); a breach goes to ``on_violation`` (by default raised). A request may name the
    ``rule`` it must meet: a 5xx or no answer then blames that rule too. After ``SILENT_LIMIT``
    requests in a row got no answer, every request raises :class:`TargetGone` at once.

    Example::

        client = BooksClient("http://127.0.0.1:8000")
        book = client.create({"title": "Dune", "author": "Frank Herbert", "year": 1965}).json()
        client.delete(f"/books/{book['id']}")
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        ledger: Ledger | None = None,
        on_violation: Violation = _raise,
        on_exchange: Callable[[Exchange], None] | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.ledger = ledger if ledger is not None else Ledger()
        self.on_violation = on_violation
        self.on_exchange = on_exchange
        self.history: list[Exchange] = []
        self.silent = 0  # requests in a row that got no answer
        self.gone: str | None = None  # why the target counts as gone
        self._lock = threading.Lock()
        self._local = threading.local()  # the exchange each thread sent last (see sent())
        self._retired: list[httpx.Client] = []
        self._http = self._new_http()

    def _new_http(self) -> httpx.Client:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        return httpx.Client(timeout=self.timeout, limits=limits)

    def close(self) -> None:
        for http in [*self._retired, self._http]:
            http.close()
        self._retired.clear()

    def _reset_connections(self) -> None:
        """Never reuse a keep-alive connection after a 5xx or transport error: servers such as
        uvicorn drop it after an unhandled error and the next request would fail with ECONNRESET.
        The old pool is retired, not closed: other threads may still be using it."""
        with self._lock:
            self._retired.append(self._http)
            self._http = self._new_http()

    # -- the one place requests are sent ---------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = _UNSET,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        body_recipe: str | None = None,
        check: bool = True,
        rule: str | None = None,
    ) -> httpx.Response:
        """Send one request to ``base_url + path``; ``path`` may carry a query string. ``rule``
        is the requirement the answer must meet, when the caller knows it (``"CREATE-OK"``)."""
        if self.gone is not None:
            raise TargetGone(self.gone)
        self._guard(method, path)
        sent_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if json_body is not _UNSET:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            sent_headers.setdefault("content-type", JSON)
        exchange = Exchange(method, path, sent_headers, content, body_recipe=body_recipe,
                            rule=rule, want=WANTS.get(rule or ""),
                            batch=getattr(self._local, "batch", None))  # fmt: skip
        with self._lock:
            self.history.append(exchange)
        self._local.exchange = exchange
        try:
            exchange.invoked = time.monotonic()
            response = self._http.request(
                method, self.base_url + path, content=content, headers=sent_headers
            )
        except httpx.TransportError as error:
            exchange.completed = time.monotonic()
            self._no_answer(exchange, error, check)
            raise
        exchange.completed = time.monotonic()
        self.silent = 0
        exchange.status = response.status_code
        exchange.response_headers = {k.lower(): v for k, v in response.headers.items()}
        exchange.response_body = response.content
        self._notify(exchange)
        if response.status_code >= 500:
            self._reset_connections()
        if method == "POST" and path.split("?")[0] == "/books" and response.is_success:
            self._record_created(response)
        if method == "DELETE" and response.status_code == 204:
            self.ledger.removed(int(path.split("/")[2].split("?")[0]))
        if check:
            self.check_response(exchange)
        return response

    def send(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, Exchange]:
        """:meth:`request`, returning the response with its own exchange (safe inside
        :meth:`parallel`, where ``history[-1]`` may be another thread's)."""
        response = self.request(method, path, **kwargs)
        return response, self.sent()

    def parallel(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run independent ``calls`` ``concurrency`` at a time; their results in call order.

        Use it only for requests whose meaning does not depend on their order. Their exchanges
        are tagged as one batch (the fingerprint takes them in any order; a reproducer replays
        them concurrently). Every call finishes before this returns; then the first call (in
        call order) that raised has its exception raised here, so the blame is deterministic.
        Build every request body before calling: the calls must send the same requests whatever
        the interleaving.

        Example: ``answers = client.parallel([partial(client.send, "GET", p) for p in paths])``.
        """
        batch = next(_batches)

        def run(call: Callable[[], T]) -> T:
            self._local.batch = batch
            try:
                return call()
            finally:
                self._local.batch = None

        if self.concurrency == 1 or len(calls) <= 1:
            outcomes: list[tuple[T | None, BaseException | None]] = []
            for call in calls:
                try:
                    outcomes.append((run(call), None))
                except Exception as error:  # (raised below, in call order)
                    outcomes.append((None, error))
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(calls))) as pool:
                futures = [pool.submit(run, call) for call in calls]
                outcomes = [(None, f.exception()) if f.exception() else (f.result(), None)
                            for f in futures]  # fmt: skip
        for _, failure in outcomes:
            if failure is not None:
                raise failure
        return [result for result, _ in outcomes]  # type: ignore[misc]

    def sent(self) -> Exchange:
        """The exchange the calling thread sent last (threads of a concurrent batch each get
        their own).

        Example: ``client.get("/books"); history.append(client.sent())``.
        """
        exchange: Exchange = self._local.exchange
        return exchange

    def _no_answer(self, exchange: Exchange, error: httpx.TransportError, check: bool) -> None:
        """Record a request that got no answer; the SILENT_LIMIT-th in a row ends the run."""
        timed_out = isinstance(error, httpx.TimeoutException)
        exchange.error = f"{type(error).__name__}: {error}"
        self._notify(exchange)
        self._reset_connections()
        with self._lock:
            self.silent += 1
            if self.silent >= SILENT_LIMIT and self.gone is None:
                how = f"timed out after {self.timeout:g} s" if timed_out else "got no answer"
                self.gone = (
                    f"the target stopped answering: {self.silent} requests in a row {how} "
                    f"(the last: {exchange.method} {exchange.path}, {exchange.error})"
                )
        if self.gone is not None:
            raise TargetGone(self.gone) from error
        if check:
            what = f"no answer within {self.timeout:g} s" if timed_out else "the server closed "
            what += "" if timed_out else "the connection without an answer"
            rules = (exchange.rule,) if exchange.rule else ()
            if timed_out and rules:
                self.on_violation(RequirementViolation(rules[0], what, exchange))
            elif rules:
                self.on_violation(RequirementViolation(rules[0], what, exchange, also=("NO-5XX",)))
            else:
                self.on_violation(RequirementViolation("NO-5XX", what, exchange))

    def _notify(self, exchange: Exchange) -> None:
        if self.on_exchange is not None:
            self.on_exchange(exchange)

    def _record_created(self, response: httpx.Response) -> None:
        try:
            book_id = response.json()["id"]
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(book_id, int) and not isinstance(book_id, bool):
            self.ledger.created(book_id)

    def _guard(self, method: str, path: str) -> None:
        """Refuse writes to books this run did not create (other rows must stay untouched)."""
        parts = path.split("?")[0].split("/")
        if method in ("GET", "HEAD") or len(parts) < 3 or parts[1] != "books":
            return
        segment = parts[2]
        if (
            segment.isdigit()
            and 1 <= int(segment) <= limits().id_max
            and not self.ledger.owns(int(segment))
        ):
            raise HygieneError(
                f"kit bug: {method} {path} targets book {segment}, which this run did not create"
            )

    # -- global rules ----------------------------------------------------------------------------
    def check_response(self, ex: Exchange) -> None:
        """Rules that hold for every response the kit receives."""
        problem = global_problem(ex)
        if problem is None:
            return
        rule, message = problem
        if rule == "NO-5XX" and ex.rule:  # the rule the request had to meet comes first
            self.on_violation(RequirementViolation(ex.rule, message, ex, also=("NO-5XX",)))
        else:
            self.on_violation(RequirementViolation(rule, message, ex))

    # -- conveniences ----------------------------------------------------------------------------
    def create(self, body: Any, **kwargs: Any) -> httpx.Response:
        """POST a body; a valid one must get CREATE-OK's answer unless ``rule`` says otherwise."""
        kwargs.setdefault("rule", "CREATE-OK")
        return self.request("POST", "/books", json_body=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, body: Any = _UNSET, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json_body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def list_books(self) -> list[Any]:
        """``GET /books``, required to be a 200 JSON array (LIST-OK)."""
        response = self.get("/books", rule="LIST-OK")
        books = response.json() if response.status_code == 200 else None
        if not isinstance(books, list):
            raise RequirementViolation(
                "LIST-OK", f"GET /books got {response.status_code}, not a JSON array",
                self.sent(),
            )  # fmt: skip
        return books

    def list_ids(self) -> list[Any]:
        """The ids of ``GET /books`` in the order served (LIST-OK: a JSON array of books)."""
        return [book.get("id") if isinstance(book, dict) else None for book in self.list_books()]

    def cleanup(self) -> list[int]:
        """Delete every book this run created and verify each is gone; return ids that are not.

        Verified with one ``GET /books``: an id still listed, or one whose DELETE got neither 204
        nor 404, is read back with a GET (404 clears it). When the list cannot be read, every id
        is read back. The requests go ``concurrency`` at a time (a run may leave hundreds).
        """

        if self.gone is not None:  # nothing can be deleted or verified any more
            return sorted(self.ledger.live)

        def delete(book_id: int) -> int:
            return self.request("DELETE", f"/books/{book_id}", check=False).status_code

        def remains(book_id: int) -> bool:
            return self.request("GET", f"/books/{book_id}", check=False).status_code != 404

        with ThreadPoolExecutor(self.concurrency) as pool:
            live = sorted(self.ledger.live)
            unclear = {i for i, status in zip(live, pool.map(delete, live), strict=True)
                       if status not in (204, 404)}  # fmt: skip
            listed = self._listed_ids()
            ids = sorted(self.ledger.all_ids())
            if listed is not None:
                ids = [book_id for book_id in ids if book_id in listed or book_id in unclear]
            return [
                book_id for book_id, left in zip(ids, pool.map(remains, ids), strict=True) if left
            ]

    def _listed_ids(self) -> set[int] | None:
        """The ids ``GET /books`` lists, or None when it does not answer a JSON array."""
        response = self.request("GET", "/books", check=False)
        try:
            books = response.json() if response.status_code == 200 else None
        except ValueError:
            return None
        if not isinstance(books, list):
            return None
        return {
            book["id"] for book in books if isinstance(book, dict) and type(book.get("id")) is int
        }


def global_problem(ex: Exchange) -> tuple[str, str] | None:
    """The rule that holds for every response which ``ex`` breaks, and how (None: none)."""
    status = ex.status or 0
    kind = media_type(ex.response_headers)
    if status >= 500:
        return "NO-5XX", f"got a server error {status}"
    if 400 <= status < 500:
        if kind not in (JSON, PROBLEM_JSON):
            return "ERROR-JSON", f"a {status} response has Content-Type {kind or 'none'}"
        if not isinstance(ex.response_json(), dict):
            return "ERROR-JSON", f"a {status} body is not a JSON object"
    elif status == 204:
        if ex.response_body:
            return "SUCCESS-JSON", "a 204 response has a body"
    elif 200 <= status < 300:
        if kind != JSON:
            return "SUCCESS-JSON", f"a {status} response has Content-Type {kind or 'none'}"
        if ex.response_json() is None and ex.response_body.strip() != b"null":
            return "SUCCESS-JSON", f"a {status} body is not valid JSON"
    return None
