"""Error responses: RFC 9457 problem details for the cases Responder leaves to the app."""

# Responder 9 ships ``py.typed`` but leaves its public API unannotated.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import logging
from typing import Any

import responder
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger("reference_app")

#: Exceptions meaning "the database cannot be used right now", answered with 503.
#: ``DBAPIError`` covers the drivers' errors (a refused or dropped connection, a
#: SQLite file that cannot be opened); ``OSError`` covers the connection errors
#: that asyncpg raises unwrapped; ``PoolTimeoutError`` is an exhausted pool.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (DBAPIError, PoolTimeoutError, OSError)

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
    resp.problem(503, detail="The database is unavailable; try again later.")


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
