"""The HTTP server settings: uvicorn on httptools, with the limits uvicorn lacks added.

uvicorn bounds the idle time between keep-alive requests (``timeout_keep_alive``), the
connections and tasks it accepts (``limit_concurrency``) and the graceful shutdown
(``timeout_graceful_shutdown``); with h11 it bounds the size of the request head
(``h11_max_incomplete_event_size``), with httptools not at all. It has no timeout for
reading a request head or body, and never closes a connection that sends nothing. The
protocol below adds those, on httptools (faster than h11 here, see README):

- the request head (request line and headers) may take at most :data:`MAX_HEAD_BYTES`
  bytes, else ``431``, and must arrive within :data:`HEAD_TIMEOUT_S` from the first byte
  (or from the connection, for a connection that sends nothing), else ``408``;
- the body may pause at most :data:`BODY_IDLE_TIMEOUT_S` between two reads and take at most
  :data:`BODY_TIMEOUT_S` in all, else ``408`` and the connection is closed (the app sees a
  disconnect).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Largest request head (request line plus headers), in bytes.
MAX_HEAD_BYTES = 32 * 1024
#: Seconds from a connection's (or a request's) first byte to the end of its head.
HEAD_TIMEOUT_S = 10.0
#: Seconds the body may pause between two reads, and may take in all.
BODY_IDLE_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_TIMEOUT_S = 5
#: Connections (or running requests) past which uvicorn answers 503 by itself. The app
#: sheds load earlier, per request (see ``reference_app.guard``).
LIMIT_CONCURRENCY = 1024
#: Seconds a graceful shutdown waits for running requests before cancelling them.
GRACEFUL_SHUTDOWN_S = 7


def _raw_response(status: bytes, message: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: "
        + str(len(message)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + message
    )


HEAD_TOO_LARGE = _raw_response(
    b"431 Request Header Fields Too Large",
    b"The request line and headers must fit in %d bytes.\n" % MAX_HEAD_BYTES,
)
REQUEST_TIMEOUT = _raw_response(b"408 Request Timeout", b"The request was not sent in time.\n")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on the head's size and on read times."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_idle_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # Timers -------------------------------------------------------------------------

    def _cancel(self, *names: str) -> None:
        for name in names:
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

    def _timed_out(self) -> None:
        self._cancel("_head_timer", "_body_idle_timer", "_body_timer")
        if self.transport.is_closing():
            return
        # Nothing of a response has been sent: the app is still waiting for this request.
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._timed_out)

    # Protocol and parser callbacks ----------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel("_head_timer", "_body_idle_timer", "_body_timer")
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._body_idle_timer is not None:
            self._body_idle_timer.cancel()
            self._body_idle_timer = self.loop.call_later(BODY_IDLE_TIMEOUT_S, self._timed_out)
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # Still inside a head after this chunk: all of it counts towards the limit.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.logger.info("request head over %d bytes: answered 431", MAX_HEAD_BYTES)
                self.transport.write(HEAD_TOO_LARGE)
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel("_head_timer")
        super().on_headers_complete()
        self._body_idle_timer = self.loop.call_later(BODY_IDLE_TIMEOUT_S, self._timed_out)
        self._body_timer = self.loop.call_later(BODY_TIMEOUT_S, self._timed_out)

    def on_message_complete(self) -> None:
        self._cancel("_body_idle_timer", "_body_timer")
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head: bounded by the keep-alive timeout until its first byte.
        self._in_head = True
        self._head_bytes = 0


def uvicorn_options() -> dict[str, Any]:
    """The ``uvicorn.Config`` keyword arguments that set the server's limits."""
    return {
        "http": BoundedHttpToolsProtocol,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT_S,
        "limit_concurrency": LIMIT_CONCURRENCY,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }
