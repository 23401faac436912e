"""The Books API v1 as a Responder application."""

# Responder 9 ships ``py.typed`` but leaves its public API unannotated.
# mypy: disable-error-code="no-untyped-call,untyped-decorator"
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import responder
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reference_app.database import DISPOSE_TIMEOUT_S, is_sqlite, make_engine, prepare_database
from reference_app.guard import Guard, Health
from reference_app.models import Book
from reference_app.problems import (
    DATABASE_UNAVAILABLE,
    RETRY_AFTER_S,
    database_timeouts_are_503,
    database_unavailable,
    json_safe_errors,
    problem_response,
    require_json,
    strict_json_format,
)
from reference_app.schemas import ID_MAX, BookIn, BookOut

#: Request bodies larger than this get ``413 Content Too Large``.
MAX_REQUEST_SIZE = 1024 * 1024
#: Requests handled at once by one process; more get an immediate 503 with Retry-After.
MAX_IN_FLIGHT = 256
#: Seconds a request may take once its body is read; then 503 with Retry-After.
REQUEST_DEADLINE_S = 5.0

#: The whole list as one JSON array, built by the database (off the event loop), in id order.
LIST_JSON_SQLITE = text(
    "SELECT json_group_array(json_object("
    "'id', id, 'title', title, 'author', author, 'year', year, 'isbn', isbn))"
    " FROM (SELECT * FROM books ORDER BY id)"
)
LIST_JSON_POSTGRES = text(
    "SELECT coalesce(json_agg(json_build_object("
    "'id', id, 'title', title, 'author', author, 'year', year, 'isbn', isbn) ORDER BY id),"
    " '[]')::text FROM books"
)

# Responses that Responder does not document by itself, for the served OpenAPI.
DATABASE_DOWN = {503: problem_response("Service Unavailable: the database cannot be used")}
NOT_JSON = {415: problem_response("Unsupported Media Type: the body must be application/json")}
BOOK_LIST = {
    200: {
        "description": "Every book, ordered by id",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/BookOut"}}
            }
        },
    }
}
BOOK_ID_FROM_BODY = {"book_id": "$response.body#/id"}
CREATED = {
    201: {
        "description": "Created",
        "headers": {
            "Location": {"description": "/books/{id}", "schema": {"type": "string"}},
        },
        "links": {
            "GetBook": {"operationId": "get_book", "parameters": BOOK_ID_FROM_BODY},
            "ReplaceBook": {"operationId": "replace_book", "parameters": BOOK_ID_FROM_BODY},
            "DeleteBook": {"operationId": "delete_book", "parameters": BOOK_ID_FROM_BODY},
        },
    }
}


def create_app(
    database_url: str,
    *,
    echo: bool = False,
    prepare: bool = True,
    deadline_s: float = REQUEST_DEADLINE_S,
) -> responder.API:
    """Build the Books API application for the database at ``database_url``.

    With ``prepare``, the schema is migrated when the application starts (the command
    line does that once, before it starts any worker, and passes ``prepare=False``).
    The engine's connections are closed when it stops. The engine is ``api.state.engine``.
    """
    engine = make_engine(database_url, echo=echo)
    # expire_on_commit=False: a committed row stays readable for the response.
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    sqlite = is_sqlite(database_url)
    list_json = LIST_JSON_SQLITE if sqlite else LIST_JSON_POSTGRES
    # SQLite has one writer at a time: writers queue here, in order, instead of sleeping on
    # the busy timeout (which only arbitrates between processes now).
    write_lock: contextlib.AbstractAsyncContextManager[Any] = (
        asyncio.Lock() if sqlite else contextlib.nullcontext()
    )

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        if prepare:
            await prepare_database(engine)
        yield
        # Bounded: on a frozen database, closing connections would wait as long as the freeze.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.dispose(), DISPOSE_TIMEOUT_S)

    api = responder.API(
        title="Books API",
        version="1",
        openapi="3.0.3",
        lifespan=lifespan,
        sessions=False,
        static_dir=None,
        redirect_slashes=False,
        max_request_size=MAX_REQUEST_SIZE,
        problem_handler=json_safe_errors,
        # No GZip layer: it wraps every response's send for bodies that are mostly under its
        # 500-byte threshold, and would compress a large list on the event loop (a proxy's job).
        gzip=False,
    )
    api.state.engine = engine
    api.formats["json"] = strict_json_format(api.formats["json"])
    api.add_middleware(
        Guard, max_in_flight=MAX_IN_FLIGHT, deadline_s=deadline_s, retry_after_s=RETRY_AFTER_S
    )
    # Outside the Guard (added last, runs first) and outside the API and its schema.
    api.add_middleware(Health, engine=engine, retry_after_s=RETRY_AFTER_S)
    for exc_class in DATABASE_UNAVAILABLE:
        api.add_exception_handler(exc_class, database_unavailable)

    @api.dependency()
    async def db() -> AsyncIterator[AsyncSession]:
        """One database session per request; handlers commit their own writes."""
        async with sessions() as session:
            yield session

    @api.get(
        "/books",
        operation_id="list_books",
        response_model=False,  # the database writes the JSON; documented in BOOK_LIST
        responses={**BOOK_LIST, **DATABASE_DOWN},
    )
    @database_timeouts_are_503
    async def list_books(
        req: responder.Request, resp: responder.Response, *, db: AsyncSession
    ) -> None:
        """Every book, ordered by id."""
        # The database builds the JSON text: no row objects on the event loop.
        books = await db.scalar(list_json)
        resp.content = books.encode()
        resp.headers["Content-Type"] = "application/json"

    @api.post(
        "/books",
        status_code=201,
        before=require_json,
        operation_id="create_book",
        responses={**CREATED, **NOT_JSON, **DATABASE_DOWN},
    )
    @database_timeouts_are_503
    async def create_book(
        req: responder.Request, resp: responder.Response, *, book: BookIn, db: AsyncSession
    ) -> BookOut:
        """Create a book; the server assigns its id."""
        row = Book(**book.model_dump())
        async with write_lock:
            db.add(row)
            await db.commit()
        resp.headers["Location"] = f"/books/{row.id}"
        return BookOut.model_validate(row)

    @api.get("/books/{book_id}", operation_id="get_book", responses=DATABASE_DOWN)
    @database_timeouts_are_503
    async def get_book(
        req: responder.Request,
        resp: responder.Response,
        *,
        book_id: int = responder.Path(ge=1, le=ID_MAX),
        db: AsyncSession,
    ) -> BookOut:
        """One book, or 404."""
        row = await db.get(Book, book_id)
        if row is None:
            responder.abort(404, detail=f"There is no book {book_id}.")
        return BookOut.model_validate(row)

    @api.put(
        "/books/{book_id}",
        before=require_json,
        operation_id="replace_book",
        responses={**NOT_JSON, **DATABASE_DOWN},
    )
    @database_timeouts_are_503
    async def replace_book(
        req: responder.Request,
        resp: responder.Response,
        *,
        book_id: int = responder.Path(ge=1, le=ID_MAX),
        book: BookIn,
        db: AsyncSession,
    ) -> BookOut:
        """Replace a book completely (an absent ``isbn`` becomes null), or 404."""
        # One UPDATE ... RETURNING: atomic, and the writer lock is held for the whole
        # transaction (commit included), so SQLite never sees two writers of this process.
        async with write_lock:
            row = await db.scalar(
                update(Book).where(Book.id == book_id).values(**book.model_dump()).returning(Book)
            )
            await db.commit()
        if row is None:
            responder.abort(404, detail=f"There is no book {book_id}.")
        return BookOut.model_validate(row)

    @api.delete(
        "/books/{book_id}", status_code=204, operation_id="delete_book", responses=DATABASE_DOWN
    )
    @database_timeouts_are_503
    async def delete_book(
        req: responder.Request,
        resp: responder.Response,
        *,
        book_id: int = responder.Path(ge=1, le=ID_MAX),
        db: AsyncSession,
    ) -> None:
        """Delete a book, or 404."""
        async with write_lock:
            deleted = await db.scalar(delete(Book).where(Book.id == book_id).returning(Book.id))
            await db.commit()
        if deleted is None:
            responder.abort(404, detail=f"There is no book {book_id}.")

    return api
