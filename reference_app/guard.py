"""ASGI middleware that keeps every request bounded: one spelling per id, a limit on requests
in flight, a deadline per request, and client disconnects logged as what they are.

- ``/books/{id}`` whose id is not written canonically (``1.0``, ``+1``, ``01``, ``%31``, ``1_0``)
  is answered 404 before routing, so that every book has exactly one URL.
- More than ``max_in_flight`` requests at once: the next ones get ``503`` with ``Retry-After``
  at once, instead of queueing without bound.
- Once a request's body has been read (at once for requests without a body), the app has
  ``deadline_s`` seconds to answer; past that the client gets ``503`` with ``Retry-After`` and the
  handler is cancelled. The handler runs as its own task, so that the answer does not wait for a
  cancelled handler's clean-up (a rollback on a frozen database may block until the driver's
  command timeout).
- A client that goes away before sending its whole body is logged at INFO, without traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("reference_app")

#: ``/books/{id}`` with the raw (undecoded) id segment.
BOOK_PATH = re.compile(rb"^/books/([^/]+)$")
#: The only spelling of an id: decimal digits, no sign, no leading zero.
CANONICAL_ID = re.compile(rb"^[1-9][0-9]*$")
#: Seconds ``/healthz`` waits for the database.
HEALTH_TIMEOUT_S = 2.0
#: Methods whose requests carry no body: the deadline starts at once.
BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


async def send_problem(
    send: Send, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Send an RFC 9457 problem-details response."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    raw_headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [
        (name.lower().encode(), value.encode()) for name, value in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body.encode()})


def non_canonical_id(scope: Scope) -> bool:
    """True for ``/books/{id}`` whose id is spelt in any other way than plain decimal digits."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    match = BOOK_PATH.match(raw_path.partition(b"?")[0])
    return match is not None and CANONICAL_ID.match(match[1]) is None


class Guard:
    """The middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, deadline_s: float, retry_after_s: int):
        self.app = app
        self.max_in_flight = max_in_flight
        self.deadline_s = deadline_s
        self.retry_after = {"Retry-After": str(retry_after_s)}
        self.in_flight = 0
        #: Handlers past their deadline, still cleaning up (kept referenced until done).
        self.abandoned: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if non_canonical_id(scope):
            await send_problem(
                send,
                404,
                "Not Found",
                "There is no book at this path: ids are written as plain decimal digits,"
                " without sign, leading zeros, decimals or escapes.",
            )
            return
        if self.in_flight >= self.max_in_flight:
            await send_problem(
                send,
                503,
                "Service Unavailable",
                "The server is handling as many requests as it can; try again later.",
                self.retry_after,
            )
            return
        self.in_flight += 1
        try:
            await self.run(scope, receive, send)
        except ClientDisconnect:
            logger.info(
                "client %s went away before sending the whole body of %s %s",
                _client(scope),
                scope["method"],
                scope["path"],
            )
        finally:
            self.in_flight -= 1

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app as a task, with the deadline; answer 503 if it passes."""
        body_read = asyncio.Event()
        if scope["method"] in BODYLESS:
            body_read.set()
        started = False
        abandoned = False

        async def guarded_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read.set()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:
                return
            started = True
            if message["type"] == "http.response.start" and message["status"] == 503:
                # Every 503 says when to retry (Responder drops headers that exception
                # handlers set, so they are added here).
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"retry-after" for name, _ in headers):
                    headers.append((b"retry-after", self.retry_after["Retry-After"].encode()))
                message = {**message, "headers": headers}
            await send(message)

        task = asyncio.ensure_future(self.app(scope, guarded_receive, guarded_send))
        try:
            if not body_read.is_set():
                reading = asyncio.ensure_future(body_read.wait())
                await asyncio.wait({task, reading}, return_when=asyncio.FIRST_COMPLETED)
                reading.cancel()
            if not task.done():
                await asyncio.wait({task}, timeout=self.deadline_s)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            await task  # its result, or its exception
            return
        abandoned = True
        task.cancel()
        self.abandoned.add(task)
        task.add_done_callback(self._forget)
        logger.warning(
            "%s %s: no answer within %g s; answered 503",
            scope["method"],
            scope["path"],
            self.deadline_s,
        )
        if not started:
            await send_problem(
                send,
                503,
                "Service Unavailable",
                f"The request could not be completed within {self.deadline_s:g} s;"
                " try again later.",
                self.retry_after,
            )

    def _forget(self, task: asyncio.Task[None]) -> None:
        self.abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.info("a cancelled request ended with %s", type(task.exception()).__name__)


class Health:
    """``GET /healthz``: 200 when the database answers ``SELECT 1`` within
    :data:`HEALTH_TIMEOUT_S`, else 503 with ``Retry-After`` (a readiness check; not part of
    the Books API)."""

    def __init__(self, app: ASGIApp, *, engine: AsyncEngine, retry_after_s: int):
        self.app = app
        self.engine = engine
        self.retry_after = {"Retry-After": str(retry_after_s)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/healthz":
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:
            logger.info("health check failed: %s", type(exc).__name__)
            await send_problem(
                send, 503, "Service Unavailable", "The database cannot be used.", self.retry_after
            )
            return
        body = b'{"status": "ok"}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"16")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _client(scope: Scope) -> str:
    client: Any = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "(unknown)"
