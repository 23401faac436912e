"""Error responses: RFC 9457 problem details for the cases Responder leaves to the app."""

# Responder 9 ships ``py.typed`` but leaves its public API unannotated.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import responder
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger("reference_app")

#: Exceptions meaning "the database cannot be used right now", answered with 503.
#: ``DBAPIError`` covers the drivers' errors (a refused or dropped connection, a
#: SQLite file that cannot be opened); ``OSError`` covers the connection errors
#: that asyncpg raises unwrapped; ``PoolTimeoutError`` is an exhausted pool.


class DatabaseTimeout(Exception):
    """A database operation timed out (asyncpg raises the builtin ``TimeoutError``, which
    Responder would answer with ``504 Request timed out``)."""


DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeoutError,
    OSError,
    DatabaseTimeout,
)

P = ParamSpec("P")
R = TypeVar("R")


def database_timeouts_are_503(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorator for handlers: a ``TimeoutError`` inside becomes :class:`DatabaseTimeout` (503)."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except TimeoutError as exc:
            raise DatabaseTimeout("the database did not answer in time") from exc

    return wrapper


#: Seconds a client should wait before retrying a 503 (the ``Retry-After`` header).
RETRY_AFTER_S = 1

#: JSON integers longer than this many characters are read as :data:`HUGE_INT`, so that
#: validation answers "out of range" instead of Python refusing to convert them.
MAX_INT_DIGITS = 40
HUGE_INT: int = 10**MAX_INT_DIGITS

#: The members of a pydantic validation error that are always JSON-serialisable.
VALIDATION_ERROR_MEMBERS = ("type", "loc", "msg")


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response object for a problem-details error."""
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
        },
    }


async def database_unavailable(
    req: responder.Request, resp: responder.Response, exc: Exception
) -> None:
    """Exception handler: answer 503, without leaking the database's error message."""
    logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    resp.problem(
        503,
        detail="The database is unavailable; try again later.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class BadBody(ValueError):
    """The request body is not a JSON text this API can read; the message says why."""


def _parse_int(digits: str) -> int:
    """``json.loads`` hook: huge integers become :data:`HUGE_INT` (then rejected as too large)."""
    if len(digits) > MAX_INT_DIGITS:
        return -HUGE_INT if digits.startswith("-") else HUGE_INT
    return int(digits)


def parse_json_body(body: bytes) -> Any:
    """Parse a request body as JSON; raise :class:`BadBody` with a plain-words reason.

    Never lets an interpreter message through: nesting deeper than the parser's
    recursion limit and integers past Python's digit limit are named as such.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("The body is not valid UTF-8.") from None
    if "\x00" in text:
        raise BadBody("The body is not JSON: it contains a NUL byte.")
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise BadBody("The body is not acceptable JSON: it is nested too deeply.") from None
    except json.JSONDecodeError as exc:
        raise BadBody(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except ValueError:
        raise BadBody("The body is not acceptable JSON: a number in it is too long.") from None


JsonFormat = Callable[..., Awaitable[Any]]


def strict_json_format(encode_with: JsonFormat) -> JsonFormat:
    """A Responder ``json`` format that encodes with ``encode_with`` and decodes with
    :func:`parse_json_body`, answering 400 with the reason for a body it cannot read."""

    async def format_json(r: Any, encode: bool = False) -> Any:
        if encode:
            return await encode_with(r, encode=True)
        try:
            return parse_json_body(await r.content)
        except BadBody as exc:
            responder.abort(400, detail=str(exc))

    return format_json


def json_safe_errors(payload: dict[str, Any]) -> dict[str, Any]:
    """Problem handler: keep only the ``type``, ``loc`` and ``msg`` of each error.

    Pydantic error details may also carry the offending input (up to 1 MiB) and a
    ``ctx`` holding exception objects, which Responder cannot serialise to JSON.
    """
    errors = payload.get("errors")
    if isinstance(errors, list):
        payload["errors"] = [
            {key: error[key] for key in VALIDATION_ERROR_MEMBERS if key in error}
            for error in errors
            if isinstance(error, dict)
        ]
    return payload


async def require_json(req: responder.Request, resp: responder.Response) -> None:
    """Before-request hook for POST and PUT: the body must be JSON text in UTF-8.

    Answers 415 when the ``Content-Type`` is neither ``application/json`` nor
    another ``+json`` type (a request without one is read as JSON), and 400 when
    the body is not UTF-8. Without this hook Responder would parse form, YAML and
    MessagePack bodies, and ``json.loads`` would guess UTF-16 or UTF-32 from NUL
    bytes (which JSON text never contains).
    """
    content_type = req.headers.get("Content-Type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type not in ("", "application/json") and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        resp.problem(415, detail="Send the body as JSON, with Content-Type: application/json.")
        return
    body = await req.content
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        resp.problem(400, detail="The body is not valid UTF-8.")
        return
    if "\x00" in text:
        resp.problem(400, detail="The body is not JSON: it contains a NUL byte.")
