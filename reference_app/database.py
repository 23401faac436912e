"""The database engine: a URL in, a configured SQLAlchemy async engine out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from reference_app import schema

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
POSTGRES_CONNECT_TIMEOUT_S = 3
#: asyncpg's client-side bound on every command (a rollback on a frozen server included).
POSTGRES_COMMAND_TIMEOUT_S = 6
#: Postgres' own bound on a statement (lock waits included), in milliseconds.
POSTGRES_STATEMENT_TIMEOUT_MS = 4_000
#: Pooled Postgres connections per process, and how many more it may open under load.
#: A fixed pool (overflow connections would be opened and closed per burst). Four workers at
#: 20 stay under Postgres' default max_connections of 100.
POSTGRES_POOL_SIZE = 20
POSTGRES_MAX_OVERFLOW = 0
#: How long a request waits for a pooled connection before it gets a 503.
POOL_TIMEOUT_S = 3
#: How long closing the engine's connections may take at shutdown.
DISPOSE_TIMEOUT_S = 2.0


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


def is_sqlite(database_url: str) -> bool:
    """True for a SQLite URL."""
    return parse_database_url(database_url).drivername == SQLITE_DRIVER


def make_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine for ``database_url`` (no connection is opened yet).

    SQLite connections are switched to WAL mode with a busy timeout, so that
    concurrent writers wait for each other instead of failing with
    ``database is locked``. Postgres connections are checked before use, so the
    app recovers by itself after the database restarts.
    """
    url = parse_database_url(database_url)
    if url.drivername == SQLITE_DRIVER:
        engine = create_async_engine(url, echo=echo, pool_timeout=POOL_TIMEOUT_S)
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_MAX_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={
            "timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "command_timeout": POSTGRES_COMMAND_TIMEOUT_S,
            "server_settings": {"statement_timeout": str(POSTGRES_STATEMENT_TIMEOUT_MS)},
        },
    )


async def prepare_database(engine: AsyncEngine) -> None:
    """Bring the schema up to date (idempotent; see :mod:`reference_app.schema`)."""
    await schema.migrate(engine)


#: Startup waits at most this long for the database, retrying with backoff.
STARTUP_WAIT_S = 10.0


class DatabaseUnreachable(RuntimeError):
    """The database could not be used within :data:`STARTUP_WAIT_S`; the message says which."""


async def wait_for_database(
    database_url: str, *, wait_s: float = STARTUP_WAIT_S, log: Any = None
) -> None:
    """Connect and run ``SELECT 1``, retrying with exponential backoff for up to ``wait_s``.

    Raises :class:`DatabaseUnreachable` naming the URL (password masked) and the last error.
    """
    engine = make_engine(database_url)
    deadline = time.monotonic() + wait_s
    delay = 0.1
    try:
        while True:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    async with engine.connect() as connection:
                        await connection.execute(text("SELECT 1"))
                return
            except Exception as exc:
                reason = (
                    " ".join(str(getattr(exc, "orig", None) or exc).split()) or type(exc).__name__
                )
                if time.monotonic() + delay >= deadline:
                    raise DatabaseUnreachable(
                        f"cannot use the database {display_url(database_url)} "
                        f"after {wait_s:g} s: {reason}"
                    ) from None
                if log is not None and delay == 0.1:
                    log(f"database not ready ({reason}); retrying for up to {wait_s:g} s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
    finally:
        await engine.dispose()


async def prepare_url(
    database_url: str,
    *,
    migrate: bool,
    check: bool = False,
    wait_s: float = STARTUP_WAIT_S,
    log: Any = None,
) -> None:
    """Wait for the database, then migrate its schema, or check that it is current.

    Raises :class:`DatabaseUnreachable` with one line that names the database.
    """
    await wait_for_database(database_url, wait_s=wait_s, log=log)
    engine = make_engine(database_url)
    try:
        if migrate:
            await schema.migrate(engine)
        if check:
            await schema.check(engine)
    except schema.SchemaOutdated as exc:
        raise DatabaseUnreachable(f"database {display_url(database_url)}: {exc}") from None
    except Exception as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise DatabaseUnreachable(
            f"cannot migrate the database {display_url(database_url)}: {reason}"
        ) from None
    finally:
        await engine.dispose()


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
