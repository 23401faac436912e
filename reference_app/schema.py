"""The database schema is Alembic's (``reference_app/migrations``): migrate it, or check it.

Migrating is idempotent and safe to start from several processes at once: on Postgres the
migrating transaction holds an advisory lock, on SQLite the process holds an exclusive lock
on a ``<database>.migrate-lock`` file next to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
#: Any constant will do: the key of the Postgres advisory lock held while migrating.
ADVISORY_LOCK_KEY = 0x626F6F6B73  # "books"


class SchemaOutdated(RuntimeError):
    """The database's schema is not at the newest migration."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the app's migrations, on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The migration the database is at (None: none yet)."""
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (nothing to do if it is there already)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    lock = _file_lock(database)
    await asyncio.to_thread(lock.__enter__)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)
    finally:
        lock.__exit__(None, None, None)


async def check(engine: AsyncEngine) -> None:
    """Raise :class:`SchemaOutdated` unless the schema is at the newest migration."""
    async with engine.connect() as connection:
        current: Any = await connection.run_sync(current_revision)
    head = head_revision()
    if current != head:
        raise SchemaOutdated(
            f"schema at migration {current or '(none)'}, the newest is {head};"
            " run python -m reference_app --migrate"
        )
