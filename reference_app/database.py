"""The database engine: a URL in, a configured SQLAlchemy async engine out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./books.db"
SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
SUPPORTED_DRIVERS = (SQLITE_DRIVER, POSTGRES_DRIVER)
URL_HELP = (
    "use sqlite+aiosqlite:///PATH (e.g. sqlite+aiosqlite:///./books.db) "
    "or postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DBNAME"
)

#: How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: How long to wait for a Postgres connection before reporting the database as down.
POSTGRES_CONNECT_TIMEOUT_S = 5


class DatabaseURLError(ValueError):
    """The database URL cannot be parsed or names an unsupported driver."""


def parse_database_url(database_url: str) -> URL:
    """Parse ``database_url`` and check that it names a supported driver.

    Raises :class:`DatabaseURLError` with a message that says how to fix the URL.
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise DatabaseURLError(f"cannot parse database URL {database_url!r}; {URL_HELP}") from None
    if url.drivername not in SUPPORTED_DRIVERS:
        raise DatabaseURLError(f"unsupported database URL scheme {url.drivername!r}; {URL_HELP}")
    return url


def display_url(database_url: str) -> str:
    """``database_url`` with any password masked, for logs."""
    return parse_database_url(database_url).render_as_string(hide_password=True)


def make_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine for ``database_url`` (no connection is opened yet).

    SQLite connections are switched to WAL mode with a busy timeout, so that
    concurrent writers wait for each other instead of failing with
    ``database is locked``. Postgres connections are checked before use, so the
    app recovers by itself after the database restarts.
    """
    url = parse_database_url(database_url)
    if url.drivername == SQLITE_DRIVER:
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )


def _configure_sqlite_connection(dbapi_connection: Any, _connection_record: Any) -> None:
    """Turn on WAL mode and a busy timeout for every new SQLite connection.

    ``synchronous=NORMAL`` is SQLite's recommended setting in WAL mode: commits stay atomic and
    the database cannot corrupt; only an OS crash may lose the last commits. It saves an fsync
    per commit.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
