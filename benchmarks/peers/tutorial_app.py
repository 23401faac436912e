"""The Responder SQLAlchemy tutorial's app, verbatim (models.py, database.py, app.py in one
file) but for the ``request_model=`` keyword that Responder 9 removed, and DATABASE_URL read
from the environment so that the benchmark can point it at a fresh file.

Serve: ``uvicorn benchmarks.peers.tutorial_app:api``.
"""

# ruff: noqa
# mypy: ignore-errors
import os
from contextlib import asynccontextmanager

import responder
from pydantic import BaseModel
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


# models.py
class Base(DeclarativeBase):
    pass


class Book(Base):
    __tablename__ = "books"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String, nullable=False)
    author: Mapped[str] = mapped_column(String, nullable=False)
    year: Mapped[int] = mapped_column(nullable=False)
    isbn: Mapped[str | None] = mapped_column(String, nullable=True)


# database.py
DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./books.db")

engine = create_async_engine(DATABASE_URL, echo=True)
async_session = async_sessionmaker(engine, expire_on_commit=False)


# app.py
@asynccontextmanager
async def lifespan(app):
    # Startup: create tables
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield
    # Shutdown: close all connections
    await engine.dispose()


api = responder.API(lifespan=lifespan)


# Pydantic models for request/response validation
class BookIn(BaseModel):
    title: str
    author: str
    year: int
    isbn: str | None = None


class BookOut(BaseModel):
    id: int
    title: str
    author: str
    year: int
    isbn: str | None = None

    class Config:
        from_attributes = True


@api.route("/books", methods=["GET"])
async def list_books(req, resp):
    async with async_session() as session:
        result = await session.execute(select(Book))
        books = result.scalars().all()
        resp.media = [BookOut.model_validate(b).model_dump() for b in books]


@api.route("/books", methods=["POST"], check_existing=False, response_model=BookOut)
async def create_book(req, resp):
    data = await req.media()
    async with async_session() as session:
        book = Book(**data)
        session.add(book)
        await session.commit()
        await session.refresh(book)
        resp.media = BookOut.model_validate(book).model_dump()
        resp.status_code = 201


@api.route("/books/{book_id:int}", methods=["GET"])
async def get_book(req, resp, *, book_id):
    async with async_session() as session:
        book = await session.get(Book, book_id)
        if book is None:
            resp.status_code = 404
            resp.media = {"error": "Book not found"}
            return
        resp.media = BookOut.model_validate(book).model_dump()


@api.route("/books/{book_id:int}", methods=["PUT"], check_existing=False)
async def update_book(req, resp, *, book_id):
    data = await req.media()
    async with async_session() as session:
        book = await session.get(Book, book_id)
        if book is None:
            resp.status_code = 404
            resp.media = {"error": "Book not found"}
            return
        for key, value in data.items():
            setattr(book, key, value)
        await session.commit()
        await session.refresh(book)
        resp.media = BookOut.model_validate(book).model_dump()


@api.route("/books/{book_id:int}", methods=["DELETE"], check_existing=False)
async def delete_book(req, resp, *, book_id):
    async with async_session() as session:
        book = await session.get(Book, book_id)
        if book is None:
            resp.status_code = 404
            resp.media = {"error": "Book not found"}
            return
        await session.delete(book)
        await session.commit()
        resp.status_code = 204
