"""The FastAPI peer: the same Books API CRUD as plain FastAPI + async SQLAlchemy, written the way
a competent developer would (Pydantic models, a session per request via ``Depends``, 404 via
``HTTPException``). On SQLite it uses WAL with a busy timeout and serialises writers in-process
on an ``asyncio.Lock``; on Postgres it has a fixed pool of 20 connections, like the reference app.
It skips the reference app's production guards (limits, deadlines, problem documents).

Serve: ``DATABASE_URL=... uvicorn benchmarks.peers.fastapi_app:app`` (``pip install .[bench]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./books.db")
SQLITE = DATABASE_URL.startswith("sqlite")


class Base(DeclarativeBase):
    pass


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String, nullable=False)
    author: Mapped[str] = mapped_column(String, nullable=False)
    year: Mapped[int] = mapped_column(nullable=False)
    isbn: Mapped[str | None] = mapped_column(String, nullable=True)


class BookIn(BaseModel):
    title: str
    author: str
    year: int
    isbn: str | None = None


class BookOut(BookIn):
    model_config = ConfigDict(from_attributes=True)

    id: int


if SQLITE:
    engine = create_async_engine(DATABASE_URL)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

else:
    engine = create_async_engine(DATABASE_URL, pool_size=20, max_overflow=0, pool_pre_ping=True)

sessions = async_sessionmaker(engine, expire_on_commit=False)
# SQLite allows one writer at a time: queue writers here rather than on the busy timeout.
write_lock: contextlib.AbstractAsyncContextManager[Any] = (
    asyncio.Lock() if SQLITE else contextlib.nullcontext()
)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(title="Books API", version="1", lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


@app.get("/books", response_model=list[BookOut])
async def list_books(db: Session) -> list[Book]:
    return list((await db.scalars(select(Book).order_by(Book.id))).all())


@app.post("/books", response_model=BookOut, status_code=201)
async def create_book(book: BookIn, db: Session, response: Response) -> Book:
    row = Book(**book.model_dump())
    async with write_lock:
        db.add(row)
        await db.commit()
    response.headers["Location"] = f"/books/{row.id}"
    return row


@app.get("/books/{book_id}", response_model=BookOut)
async def get_book(book_id: int, db: Session) -> Book:
    row = await db.get(Book, book_id)
    if row is None:
        raise HTTPException(404, "Book not found")
    return row


@app.put("/books/{book_id}", response_model=BookOut)
async def replace_book(book_id: int, book: BookIn, db: Session) -> Book:
    async with write_lock:
        row: Book | None = await db.scalar(
            update(Book).where(Book.id == book_id).values(**book.model_dump()).returning(Book)
        )
        await db.commit()
    if row is None:
        raise HTTPException(404, "Book not found")
    return row


@app.delete("/books/{book_id}", status_code=204)
async def delete_book(book_id: int, db: Session) -> Response:
    async with write_lock:
        deleted = await db.scalar(delete(Book).where(Book.id == book_id).returning(Book.id))
        await db.commit()
    if deleted is None:
        raise HTTPException(404, "Book not found")
    return Response(status_code=204)
