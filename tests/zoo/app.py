"""A small, independent, in-memory implementation of Books API v1 as a raw ASGI app.

It deliberately takes the *other* branch from the Responder reference app wherever the contract
allows a choice, so the conformance kit is proven not to be over-fitted to one server:

* every invalid body gets 400 (never 422), and errors are plain ``{"error": "..."}`` objects sent
  as ``application/json`` (not RFC 9457 problem details);
* unknown members, including a client ``id``, are rejected with 400;
* a 201 carries no ``Location`` header;
* a bad path id (``abc``, ``0``, ``-1``, ``1.5``, ``2^64``) gets 400;
* a body is read as JSON whatever its Content-Type says (``text/plain`` included; the reference
  app answers 415), except that a ``charset`` other than UTF-8 gets 415;
* an unsupported method gets 405 with an ``Allow`` header; a body over 1 MiB gets 413.

The store never awaits between reading and updating its state, so under asyncio every operation is
atomic. The class is written as small methods, limits and a store class ("seams"); each mutant in
:mod:`.mutants` is a subclass that overrides the one or two seams its bug lives in.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Book = dict[str, Any]
Fields = dict[str, Any]

MAX_BODY = 1024 * 1024
MAX_ID = 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MEMBERS = ("title", "author", "year", "isbn")
JSON_TYPE = "application/json"

_MISSING: Any = object()
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")  # at most 19 digits: 2^63-1 has 19
_DIGITS = re.compile(r"[0-9]+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
logger = logging.getLogger(__name__)


class HTTPError(Exception):
    """A client error: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> HTTPError:
    return HTTPError(400, message)


def not_found(book_id: int) -> HTTPError:
    return HTTPError(404, f"no book with id {book_id}")


@dataclass
class Request:
    method: str
    path: str  # relative to the app's root path
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    receive: Receive

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return cls(
            method=scope["method"].upper(),
            path=route_path(scope),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            receive=receive,
        )


def route_path(scope: Scope) -> str:
    """The request path below ``root_path`` (ASGI servers include ``root_path`` in ``path``)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def encode_json(payload: Any) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


async def send_response(send: Send, response: Response, *, head: bool = False) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    if response.status != 204:
        headers.append((b"content-length", str(len(response.body)).encode()))
        if response.content_type:
            headers.append((b"content-type", response.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    body = b"" if head or response.status == 204 else response.body
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def serve_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _declared_length(value: str) -> int | None:
    """A Content-Length value as an int (capped, so a huge digit string stays cheap), else None."""
    if not _DIGITS.fullmatch(value.strip()):
        return None
    digits = value.strip().lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else MAX_ID


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("an object has a duplicate member name")
    return obj


def contains_lone_surrogate(value: Any) -> bool:
    """Does any string in ``value`` (keys included) hold an unpaired UTF-16 surrogate?"""
    stack = [value]
    while stack:  # iterative: JSON nesting may be as deep as the parser allows
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class Store:
    """Books in memory. No method awaits, so each one is atomic under asyncio."""

    def __init__(self) -> None:
        self._books: dict[int, Book] = {}
        self._last_id = 0

    def allocate_id(self) -> int:
        self._last_id += 1
        return self._last_id

    async def list(self) -> list[Book]:
        return [dict(self._books[book_id]) for book_id in sorted(self._books)]

    async def get(self, book_id: int) -> Book | None:
        book = self._books.get(book_id)
        return None if book is None else dict(book)

    async def create(self, fields: Fields) -> Book:
        book = {"id": self.allocate_id(), **fields}
        self._books[book["id"]] = book
        return dict(book)

    async def replace(self, book_id: int, fields: Fields) -> Book | None:
        if book_id not in self._books:
            return None
        book = {"id": book_id, **fields}
        self._books[book_id] = book
        return dict(book)

    async def delete(self, book_id: int) -> bool:
        return self._books.pop(book_id, None) is not None


class BooksApp:
    """The correct implementation. Subclasses (the mutants) override the seam their bug is in."""

    store_class: ClassVar[type[Store]] = Store
    max_body_size: ClassVar[int] = MAX_BODY
    #: Length limits in code points, and where U+0000 is forbidden.
    text_limits: ClassVar[dict[str, tuple[int, int]]] = {
        "title": (1, 500),
        "author": (1, 500),
        "isbn": (1, 32),
    }
    nul_forbidden_in: ClassVar[frozenset[str]] = frozenset({"title", "author", "isbn"})
    collection_methods: ClassVar[tuple[str, ...]] = ("GET", "HEAD", "POST")
    item_methods: ClassVar[tuple[str, ...]] = ("GET", "HEAD", "PUT", "DELETE")

    def __init__(self) -> None:
        self.store = self.store_class()

    # -- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request.from_scope(scope, receive)
        try:
            response = await self.handle(request)
        except HTTPError as error:
            response = self.error_response(error)
        except Exception:  # a bug: answer the way a framework would, with a bare 500
            logger.info("unhandled error in %s %s", request.method, request.path, exc_info=True)
            response = Response(500, b"Internal Server Error", "text/plain; charset=utf-8")
        await send_response(send, response, head=request.method == "HEAD")

    # -- routing ---------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/books":
            if method not in self.collection_methods:
                self.unsupported_method(method, self.collection_methods)
            if method == "POST":
                return await self.create_book(request)
            return await self.list_books(request)
        segment = path.removeprefix("/books/")
        if segment == path or not segment or "/" in segment:
            raise HTTPError(404, f"no resource at {path}")
        if method not in self.item_methods:
            self.unsupported_method(method, self.item_methods)
        book_id = self.parse_id(segment)
        if method == "PUT":
            return await self.replace_book(request, book_id)
        if method == "DELETE":
            return await self.delete_book(request, book_id)
        return await self.read_book(request, book_id)

    def unsupported_method(self, method: str, allowed: tuple[str, ...]) -> NoReturn:
        raise HTTPError(405, f"method {method} is not allowed here", {"allow": ", ".join(allowed)})

    def parse_id(self, segment: str) -> int:
        if _CANONICAL_ID.fullmatch(segment) and int(segment) <= MAX_ID:
            return int(segment)
        raise bad_request("a book id is an integer in 1..2^63-1")

    # -- operations ------------------------------------------------------------------------------
    async def list_books(self, request: Request) -> Response:
        return self.respond(200, [self.render(book) for book in await self.store.list()])

    async def create_book(self, request: Request) -> Response:
        fields = self.validate(await self.read_json(request))
        book = await self.store.create(fields)
        return self.respond(201, self.render(book))

    async def read_book(self, request: Request, book_id: int) -> Response:
        book = await self.store.get(book_id)
        if book is None:
            raise not_found(book_id)
        return self.respond(200, self.render(book))

    async def replace_book(self, request: Request, book_id: int) -> Response:
        fields = self.validate(await self.read_json(request))
        book = await self.store.replace(book_id, fields)
        if book is None:
            raise not_found(book_id)
        return self.respond(200, self.render(book))

    async def delete_book(self, request: Request, book_id: int) -> Response:
        if not await self.store.delete(book_id):
            raise not_found(book_id)
        return Response(204)

    def render(self, book: Book) -> Book:
        return {"id": book["id"], **{name: book[name] for name in MEMBERS}}

    def error_response(self, error: HTTPError) -> Response:
        return self.respond(error.status, {"error": error.message}, error.headers)

    def respond(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        return Response(status, self.encode(payload), JSON_TYPE, dict(headers or {}))

    def encode(self, payload: Any) -> bytes:
        return encode_json(payload)

    # -- request bodies --------------------------------------------------------------------------
    async def read_json(self, request: Request) -> Any:
        raw = await self.read_body(request)
        self.check_content_type(request.headers.get("content-type"))
        return self.parse_json(raw)

    async def read_body(self, request: Request) -> bytes:
        """The body, refused with 413 once it is known to exceed ``max_body_size``: by its
        Content-Length up front, or by counting the bytes as they stream in (never buffering
        more than the limit)."""
        declared = _declared_length(request.headers.get("content-length", ""))
        if declared is not None and declared > self.max_body_size:
            self.body_too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise bad_request("the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                self.body_too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def body_too_large(self) -> NoReturn:
        raise HTTPError(413, f"the body is larger than {self.max_body_size} bytes")

    def check_content_type(self, value: str | None) -> None:
        """Read any body as JSON (the contract allows accepting other types); only a charset
        other than UTF-8 gets 415."""
        if value is None:
            return
        _media_type, *params = value.split(";")
        for param in params:
            name, _, charset = param.partition("=")
            if name.strip().lower() == "charset" and charset.strip(' "').lower() != "utf-8":
                raise HTTPError(415, "a JSON body is UTF-8")

    def parse_json(self, raw: bytes) -> Any:
        if not raw.strip():
            raise bad_request("the body is empty")
        text = self.decode_text(raw)
        try:
            data = json.loads(
                text, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
            )
        except (ValueError, RecursionError) as error:
            raise bad_request(f"the body is not valid JSON: {str(error)[:200]}") from None
        self.check_no_lone_surrogates(data)
        return data

    def decode_text(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("the body is not valid UTF-8") from None

    def check_no_lone_surrogates(self, data: Any) -> None:
        if contains_lone_surrogate(data):
            raise bad_request("the body has an unpaired surrogate escape")

    # -- validation ------------------------------------------------------------------------------
    def validate(self, data: Any) -> Fields:
        """The stored fields of a valid body (absent ``isbn`` is None); 400 for anything else."""
        if not isinstance(data, dict):
            raise bad_request("the body must be a JSON object")
        self.check_members(data)
        return {
            "title": self.check_text("title", data.get("title", _MISSING)),
            "author": self.check_text("author", data.get("author", _MISSING)),
            "year": self.check_year(data.get("year", _MISSING)),
            "isbn": self.check_isbn(data.get("isbn")),
        }

    def check_members(self, data: dict[str, Any]) -> None:
        unknown = [name for name in data if name not in MEMBERS]
        if unknown:
            shown = ", ".join(repr(name[:40]) for name in unknown[:5])
            raise bad_request(f"unknown members: {shown}")

    def check_text(self, name: str, value: Any) -> str:
        if value is _MISSING:
            raise bad_request(f"{name} is required")
        if not isinstance(value, str):
            raise bad_request(f"{name} must be a string")
        low, high = self.text_limits[name]
        if not low <= self.text_length(value) <= high:
            raise bad_request(f"{name} must have {low}..{high} characters")
        if name in self.nul_forbidden_in and "\x00" in value:
            raise bad_request(f"{name} must not contain U+0000")
        return value

    def text_length(self, value: str) -> int:
        return len(value)  # code points

    def check_year(self, value: Any) -> int:
        if value is _MISSING:
            raise bad_request("year is required")
        if isinstance(value, bool) or not isinstance(value, int):  # floats are rejected too
            raise bad_request("year must be a JSON integer")
        if not INT32_MIN <= value <= INT32_MAX:
            raise bad_request(f"year must be in {INT32_MIN}..{INT32_MAX}")
        return value

    def check_isbn(self, value: Any) -> str | None:
        return None if value is None else self.check_text("isbn", value)


def create_correct_app() -> BooksApp:
    return BooksApp()
