"""Database URLs and engine settings (reference_app.database)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from reference_app.app import create_app
from reference_app.database import DatabaseURLError, display_url, make_engine

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    "url",
    [
        "mysql+aiomysql://localhost/books",
        "postgresql://localhost/books",
        "postgresql+psycopg://localhost/books",
        "sqlite:///books.db",
    ],
    # Neutral ids: "-k sqlite" and "-k postgres" select by backend, and these need none.
    ids=["aiomysql", "pg-default-driver", "pg-psycopg", "lite-default-driver"],
)
def test_unsupported_drivers_are_rejected_with_a_fix(url: str) -> None:
    with pytest.raises(DatabaseURLError, match="unsupported database URL scheme") as caught:
        create_app(url)
    assert "use sqlite+aiosqlite:///PATH" in str(caught.value)
    assert "postgresql+asyncpg://" in str(caught.value)


def test_an_unparsable_url_is_rejected_with_a_fix() -> None:
    with pytest.raises(DatabaseURLError, match=re.escape("cannot parse database URL 'books.db'")):
        make_engine("books.db")


def test_logged_urls_hide_the_password() -> None:
    url = "postgresql+asyncpg://books:s3cret@db.example:5432/books"
    assert display_url(url) == "postgresql+asyncpg://books:***@db.example:5432/books"


def test_sql_echo_is_off_unless_asked_for(backend: str) -> None:
    assert make_engine(backend).echo is False
    assert make_engine(backend, echo=True).echo is True


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_uses_wal_and_a_busy_timeout(backend: str) -> None:
    engine = make_engine(backend)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA busy_timeout")) == 10_000
    finally:
        await engine.dispose()
