"""The Books API v1 as a Responder application."""

# Responder 9 ships ``py.typed`` but leaves its public API unannotated.
# mypy: disable-error-code="no-untyped-call,untyped-decorator"
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import responder
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from reference_app.database import make_engine
from reference_app.models import Base, Book
from reference_app.problems import (
    DATABASE_UNAVAILABLE,
    database_unavailable,
    json_safe_errors,
    problem_response,
    require_json,
)
from reference_app.schemas import ID_MAX, BookIn, BookOut

#: Request bodies larger than this get ``413 Content Too Large``.
MAX_REQUEST_SIZE = 1024 * 1024

# Responses that Responder does not document by itself, for the served OpenAPI.
DATABASE_DOWN = {503: problem_response("Service Unavailable: the database cannot be used")}
NOT_JSON = {415: problem_response("Unsupported Media Type: the body must be application/json")}
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


def create_app(database_url: str, *, echo: bool = False) -> responder.API:
    """Build the Books API application for the database at ``database_url``.

    The tables are created when the application starts, and the engine's
    connections closed when it stops. The engine is ``api.state.engine``.
    """
    engine = make_engine(database_url, echo=echo)
    # expire_on_commit=False: a committed row stays readable for the response.
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

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
    )
    api.state.engine = engine
    for exc_class in DATABASE_UNAVAILABLE:
        api.add_exception_handler(exc_class, database_unavailable)

    @api.dependency()
    async def db() -> AsyncIterator[AsyncSession]:
        """One database session per request; handlers commit their own writes."""
        async with sessions() as session:
            yield session

    @api.get("/books", operation_id="list_books", responses=DATABASE_DOWN)
    async def list_books(
        req: responder.Request, resp: responder.Response, *, db: AsyncSession
    ) -> list[BookOut]:
        """Every book, ordered by id."""
        books = await db.scalars(select(Book).order_by(Book.id))
        return [BookOut.model_validate(book) for book in books]

    @api.post(
        "/books",
        status_code=201,
        before=require_json,
        operation_id="create_book",
        responses={**CREATED, **NOT_JSON, **DATABASE_DOWN},
    )
    async def create_book(
        req: responder.Request, resp: responder.Response, *, book: BookIn, db: AsyncSession
    ) -> BookOut:
        """Create a book; the server assigns its id."""
        row = Book(**book.model_dump())
        db.add(row)
        await db.commit()
        resp.headers["Location"] = f"/books/{row.id}"
        return BookOut.model_validate(row)

    @api.get("/books/{book_id}", operation_id="get_book", responses=DATABASE_DOWN)
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
    async def replace_book(
        req: responder.Request,
        resp: responder.Response,
        *,
        book_id: int = responder.Path(ge=1, le=ID_MAX),
        book: BookIn,
        db: AsyncSession,
    ) -> BookOut:
        """Replace a book completely (an absent ``isbn`` becomes null), or 404."""
        # One UPDATE ... RETURNING: atomic, and on SQLite the transaction starts
        # as a writer, so concurrent writers queue on the busy timeout.
        row = await db.scalar(
            update(Book).where(Book.id == book_id).values(**book.model_dump()).returning(Book)
        )
        if row is None:
            responder.abort(404, detail=f"There is no book {book_id}.")
        await db.commit()
        return BookOut.model_validate(row)

    @api.delete(
        "/books/{book_id}", status_code=204, operation_id="delete_book", responses=DATABASE_DOWN
    )
    async def delete_book(
        req: responder.Request,
        resp: responder.Response,
        *,
        book_id: int = responder.Path(ge=1, le=ID_MAX),
        db: AsyncSession,
    ) -> None:
        """Delete a book, or 404."""
        deleted = await db.scalar(delete(Book).where(Book.id == book_id).returning(Book.id))
        if deleted is None:
            responder.abort(404, detail=f"There is no book {book_id}.")
        await db.commit()

    return api
