"""The database table: one ``Book`` row per book."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base holding the metadata that the app creates at startup."""


class Book(Base):
    """A book as stored.

    ``id`` is a BIGSERIAL on Postgres. On SQLite it must be spelled ``INTEGER`` to be
    the (64-bit) rowid, and is declared ``AUTOINCREMENT`` so that an id is never
    handed out again after a delete, not even the largest one. ``year`` is a 32-bit
    INTEGER on both databases.
    """

    __tablename__ = "books"
    # SQLAlchemy reads this class attribute once, when it builds the table.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    title: Mapped[str] = mapped_column(String)
    author: Mapped[str] = mapped_column(String)
    year: Mapped[int] = mapped_column(Integer)
    isbn: Mapped[str | None] = mapped_column(String)
