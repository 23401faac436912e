"""Fixtures for the reference app tests: each test runs once per database backend.

The ``backend`` fixture is parametrised with ``sqlite`` and ``postgres`` (select one
with ``-k sqlite`` or ``-k postgres``) and returns the URL of an empty database:

- sqlite: a new file in the test's ``tmp_path``;
- postgres: a database that the session creates for itself (and drops at the end),
  emptied before each test, on the server named by ``DATABASE_URL`` (a
  ``postgresql+asyncpg://`` URL whose user may create databases) or else on a
  throwaway server that ``tools.pgtemp`` starts once per session.

Tests that need no database at all (command-line and URL errors) have neither id:
``-k "not postgres"`` runs them along with the SQLite tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import responder
from responder.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from reference_app.app import create_app
from tools.pgtemp import PostgresServer

POSTGRES_DRIVER = "postgresql+asyncpg"

#: ``async with database_down(): ...`` makes the test's database unusable inside the block.
DatabaseDown = Callable[[], AbstractAsyncContextManager[None]]


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio (the loop uvicorn uses)."""
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """The throwaway Postgres server, or None when ``DATABASE_URL`` names a server to use."""
    if os.environ.get("DATABASE_URL", "").startswith(f"{POSTGRES_DRIVER}://"):
        yield None
        return
    with PostgresServer() as server:
        yield server


def postgres_admin_url(server: PostgresServer | None) -> str:
    """The URL of the database used to create and drop the test databases."""
    return server.url if server is not None else os.environ["DATABASE_URL"]


async def run_admin_sql(admin_url: str, *statements: str) -> None:
    """Run statements outside a transaction (as CREATE/DROP DATABASE require)."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: PostgresServer | None) -> Iterator[str]:
    """A database of its own for the session's Postgres tests, dropped at the end."""
    admin_url = postgres_admin_url(postgres_server)
    name = f"books_test_{uuid.uuid4().hex}"
    asyncio.run(run_admin_sql(admin_url, f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(run_admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, on each backend.

    SQLite gets a new file per test. Postgres gets the session's database with the
    ``books`` and ``alembic_version`` tables dropped (with the id sequence): a new database
    per test would take about a second, dropping the tables a few milliseconds.
    """
    if request.param == "sqlite":
        directory = tmp_path / "database"
        directory.mkdir()
        return f"sqlite+aiosqlite:///{directory / 'books.db'}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(run_admin_sql(url, "DROP TABLE IF EXISTS books, alembic_version"))
    return url


@pytest.fixture
def api(backend: str) -> responder.API:
    """The application, connected to the test's database."""
    return create_app(backend)


async def fail_on_500(response: httpx.Response) -> None:
    """Response hook: the app must never answer 500, whatever the request."""
    request = response.request
    assert response.status_code != 500, f"{request.method} {request.url} answered 500"


@pytest.fixture
async def client(api: responder.API) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process HTTP client for the app; the app's lifespan runs around the test."""
    async with AsyncTestClient(
        api, base_url="http://testserver", event_hooks={"response": [fail_on_500]}
    ) as client:
        yield client


@pytest.fixture
def database_down(request: pytest.FixtureRequest, backend: str, api: responder.API) -> DatabaseDown:
    """A context manager that takes the test's database away while it is open.

    - sqlite: deletes the directory holding the database file and closes the
      app's pooled connections, so that the file cannot be opened again;
    - postgres (throwaway server): stops the server, and starts it again after;
    - postgres (``DATABASE_URL``): makes the test database refuse connections and
      ends the open ones, then allows connections again after.
    """

    @asynccontextmanager
    async def sqlite_down() -> AsyncIterator[None]:
        directory = Path(str(make_url(backend).database)).parent
        shutil.rmtree(directory)
        await api.state.engine.dispose()
        try:
            yield
        finally:
            directory.mkdir()

    @asynccontextmanager
    async def server_stopped(server: PostgresServer) -> AsyncIterator[None]:
        server.stop()
        try:
            yield
        finally:
            server.start()

    @asynccontextmanager
    async def connections_refused(admin_url: str) -> AsyncIterator[None]:
        name = make_url(backend).database
        await run_admin_sql(
            admin_url,
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
        try:
            yield
        finally:
            await run_admin_sql(admin_url, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    if backend.startswith("sqlite"):
        return sqlite_down
    server = request.getfixturevalue("postgres_server")
    if server is not None:
        return lambda: server_stopped(server)
    return lambda: connections_refused(postgres_admin_url(None))


#: The body that ``create_book`` posts.
BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": "978-0441013593"}


@pytest.fixture
def create_book(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await create_book(**changes)`` posts a valid book and returns the created book."""

    async def create(**changes: Any) -> dict[str, Any]:
        response = await client.post("/books", json={**BOOK, **changes})
        assert response.status_code == 201, response.text
        book: dict[str, Any] = response.json()
        return book

    return create
