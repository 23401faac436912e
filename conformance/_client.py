"""The kit's HTTP client: records every exchange, applies the global response rules, and keeps
the hygiene ledger so the kit only ever writes to books it created itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from conformance._exchange import Exchange

JSON = "application/json"
_UNSET: Any = object()
MAX_ID = 2**63 - 1
#: Requests in flight at once while cleaning up.
CLEANUP_WORKERS = 8


class RequirementViolation(AssertionError):
    """A response broke a named requirement; the report files the failure under ``requirement``."""

    def __init__(self, requirement: str, message: str, exchange: Exchange | None = None):
        detail = f"{message}\n{exchange.describe()}" if exchange else message
        super().__init__(f"[{requirement}] {detail}")
        self.requirement = requirement
        self.exchange = exchange


class HygieneError(RuntimeError):
    """The kit tried to write to a book it did not create (a bug in a kit test, not the target)."""


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


Violation = Callable[[str, str, Exchange], None]


def _raise(requirement: str, message: str, exchange: Exchange) -> None:
    raise RequirementViolation(requirement, message, exchange)


class BooksClient:
    """Speaks HTTP to one target. Thread-safe for the concurrency checks.

    Every response is checked against the rules that hold for all responses (NO-5XX, ERROR-JSON,
    SUCCESS-JSON); a breach goes to ``on_violation`` (by default raised as
    :class:`RequirementViolation`).

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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.ledger = ledger if ledger is not None else Ledger()
        self.on_violation = on_violation
        self.on_exchange = on_exchange
        self.history: list[Exchange] = []
        self._lock = threading.Lock()
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
    ) -> httpx.Response:
        """Send one request to ``base_url + path``; ``path`` may carry a query string."""
        self._guard(method, path)
        sent_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if json_body is not _UNSET:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            sent_headers.setdefault("content-type", JSON)
        exchange = Exchange(method, path, sent_headers, content, body_recipe=body_recipe)
        with self._lock:
            self.history.append(exchange)
        try:
            response = self._http.request(
                method, self.base_url + path, content=content, headers=sent_headers
            )
        except httpx.TransportError as error:
            exchange.error = f"{type(error).__name__}: {error}"
            self._notify(exchange)
            self._reset_connections()
            if check:
                self.on_violation(
                    "NO-5XX", "the server closed the connection without a response", exchange
                )
            raise
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
        if segment.isdigit() and 1 <= int(segment) <= MAX_ID and not self.ledger.owns(int(segment)):
            raise HygieneError(
                f"kit bug: {method} {path} targets book {segment}, which this run did not create"
            )

    # -- global rules ----------------------------------------------------------------------------
    def check_response(self, ex: Exchange) -> None:
        """Rules that hold for every response the kit receives."""
        status = ex.status or 0
        if status >= 500:
            self.on_violation("NO-5XX", f"got a server error {status}", ex)
            return
        if 400 <= status < 500:
            kind = media_type(ex.response_headers)
            if kind not in (JSON, "application/problem+json"):
                self.on_violation(
                    "ERROR-JSON", f"a {status} response has Content-Type {kind or 'none'}", ex
                )
            elif not isinstance(ex.response_json(), dict):
                self.on_violation("ERROR-JSON", f"a {status} body is not a JSON object", ex)
        elif status == 204:
            if ex.response_body:
                self.on_violation("SUCCESS-JSON", "a 204 response has a body", ex)
        elif 200 <= status < 300:
            kind = media_type(ex.response_headers)
            if kind != JSON:
                self.on_violation(
                    "SUCCESS-JSON", f"a {status} response has Content-Type {kind or 'none'}", ex
                )
            elif ex.response_json() is None and ex.response_body.strip() != b"null":
                self.on_violation("SUCCESS-JSON", f"a {status} body is not valid JSON", ex)

    # -- conveniences ----------------------------------------------------------------------------
    def create(self, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", "/books", json_body=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, body: Any = _UNSET, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json_body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def list_ids(self) -> list[int]:
        """The ids of ``GET /books`` in the order served."""
        return [book["id"] for book in self.get("/books").json()]

    def cleanup(self) -> list[int]:
        """Delete every book this run created and verify each is gone; return ids that are not.

        Verified with one ``GET /books``: an id still listed, or one whose DELETE got neither 204
        nor 404, is read back with a GET (404 clears it). When the list cannot be read, every id
        is read back. The requests go ``CLEANUP_WORKERS`` at a time (a run may leave hundreds).
        """

        def delete(book_id: int) -> int:
            return self.request("DELETE", f"/books/{book_id}", check=False).status_code

        def remains(book_id: int) -> bool:
            return self.request("GET", f"/books/{book_id}", check=False).status_code != 404

        with ThreadPoolExecutor(CLEANUP_WORKERS) as pool:
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


def ids_in(books: Iterable[dict[str, Any]]) -> list[int]:
    """The ids of a list of books."""
    return [book["id"] for book in books]


def require(
    requirement: str, condition: object, message: str, exchange: Exchange | None = None
) -> None:
    """Assert ``condition``; on failure blame ``requirement`` (with the exchange that showed it)."""
    if not condition:
        raise RequirementViolation(requirement, message, exchange)
