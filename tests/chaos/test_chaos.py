"""Hostile clients, killed servers and failing databases (issue 14). Run with ``-m chaos``.

Bounds are the app's limits (``reference_app.server``, ``reference_app.app``) plus generous
margins for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from reference_app.app import REQUEST_DEADLINE_S
from reference_app.server import BODY_IDLE_TIMEOUT_S, GRACEFUL_SHUTDOWN_S, HEAD_TIMEOUT_S
from tests.test_app_server import BOOK, Server
from tools.pgtemp import PostgresServer

pytestmark = pytest.mark.chaos

Start = Callable[..., Server]
MARGIN_S = 10.0


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and the seconds it took."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took (fail after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)  # polling interval, not synchronisation
    return time.monotonic() - started


@pytest.fixture
def server(backend: str, start: Start) -> Server:
    return start(["--port", "0", "--database-url", backend])


# Hostile clients ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_endless_header_is_431_and_memory_stays_bounded(server: Server) -> None:
    before = rss_kib(server.process.pid)
    with socket.create_connection(address(server)) as sock:
        sock.sendall(b"GET /books HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        sent = 0
        try:
            while sent < 64 * 1024 * 1024:  # bounded: the server must cut us long before
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        response, _ = read_until_closed(sock, MARGIN_S)
    assert sent < 8 * 1024 * 1024
    assert response.startswith(b"HTTP/1.1 431 "), response[:100]
    assert rss_kib(server.process.pid) - before < 32 * 1024
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/books").status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "partial", [b"", b"GET /books HTTP/1.1\r\nHost: x\r\n"], ids=["silent", "half-a-head"]
)
def test_a_slow_head_is_cut_within_the_head_timeout(server: Server, partial: bytes) -> None:
    with socket.create_connection(address(server)) as sock:
        sock.sendall(partial)
        response, took = read_until_closed(sock, HEAD_TIMEOUT_S + MARGIN_S)
    assert took < HEAD_TIMEOUT_S + MARGIN_S
    assert response == b"" or response.startswith(b"HTTP/1.1 408 "), response[:100]


@contextmanager
def stalled_body(server: Server) -> Iterator[socket.socket]:
    """A connection that sent the head of a POST and 10 of its 100 body bytes, then stalls."""
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /books HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"title": '
        )
        yield sock


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_stalled_body_is_cut_within_the_body_timeout(server: Server) -> None:
    with stalled_body(server) as sock:
        response, took = read_until_closed(sock, BODY_IDLE_TIMEOUT_S + MARGIN_S)
    assert took < BODY_IDLE_TIMEOUT_S + MARGIN_S
    assert response == b"" or response.startswith(b"HTTP/1.1 408 "), response[:100]
    assert server.stop() == 0
    assert not any("Traceback" in line for line in server.stderr), server.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sigterm_exits_in_bounded_time_whatever_clients_do(server: Server) -> None:
    with stalled_body(server), socket.create_connection(address(server)) as idle:
        idle.sendall(b"GET /books HTTP/1.1\r\n")  # half a head
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0
        took = time.monotonic() - started
    assert took < GRACEFUL_SHUTDOWN_S + MARGIN_S


# Killed server --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_kill_9_during_writes_loses_no_acknowledged_write(backend: str, start: Start) -> None:
    server = start(["--port", "0", "--database-url", backend])
    acknowledged: list[int] = []

    async def writer(client: httpx.AsyncClient, n: int) -> None:
        for i in range(200):  # bounded
            try:
                response = await client.post("/books", json={**BOOK, "title": f"{n}-{i}"})
            except httpx.HTTPError:
                return
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])

    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        writers = [asyncio.ensure_future(writer(client, n)) for n in range(8)]
        deadline = time.monotonic() + 30
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # polling interval
        server.process.kill()
        await asyncio.gather(*writers)
    assert server.stop() == -signal.SIGKILL
    assert len(acknowledged) >= 100

    restarted = start(["--port", "0", "--database-url", backend])
    with httpx.Client(base_url=restarted.url) as client:
        listed = {book["id"] for book in client.get("/books").json()}
    assert set(acknowledged) <= listed


# Failing databases ----------------------------------------------------------------------


def assert_503_with_retry_after(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture
def throwaway_postgres(request: pytest.FixtureRequest) -> PostgresServer:
    server: PostgresServer | None = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("needs the throwaway Postgres server (DATABASE_URL is set)")
    return server


def postgres_pids(server: PostgresServer) -> list[int]:
    """The postmaster and its children."""
    postmaster = int((server._base / "data" / "postmaster.pid").read_text().split()[0])  # type: ignore[operator]
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_stopped_is_503_with_retry_after_then_recovers(
    server: Server, throwaway_postgres: PostgresServer
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        book = client.post("/books", json=BOOK).json()
        throwaway_postgres.stop()
        try:
            started = time.monotonic()
            for request in (
                client.build_request("GET", "/books"),
                client.build_request("GET", f"/books/{book['id']}"),
                client.build_request("POST", "/books", json=BOOK),
            ):
                assert_503_with_retry_after(client.send(request))
            assert_503_with_retry_after(client.get("/healthz"))
            assert time.monotonic() - started < 3 * REQUEST_DEADLINE_S + MARGIN_S
        finally:
            throwaway_postgres.start()
        wait_for(lambda: client.get("/healthz").status_code == 200, 30, "healthz 200")
        assert client.get(f"/books/{book['id']}").json() == book


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_frozen_is_503_within_the_deadline_then_recovers(
    server: Server, throwaway_postgres: PostgresServer
) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        book = client.post("/books", json=BOOK).json()
        pids = postgres_pids(throwaway_postgres)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert_503_with_retry_after(client.get(f"/books/{book['id']}"))
            assert_503_with_retry_after(client.put(f"/books/{book['id']}", json=BOOK))
            assert time.monotonic() - started < 2 * REQUEST_DEADLINE_S + MARGIN_S
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        wait_for(lambda: client.get(f"/books/{book['id']}").status_code == 200, 30, "reads again")
        assert client.post("/books", json=BOOK).status_code == 201


def test_database_down_at_start_is_one_line_and_exit_3(tmp_path: Path) -> None:
    from tests.test_app_server import run_cli

    url = "postgresql+asyncpg://books:secret@127.0.0.1:1/books"
    started = time.monotonic()
    result = run_cli(["--port", "0", "--database-url", url, "--database-wait", "2"], tmp_path)
    assert time.monotonic() - started < 2 + MARGIN_S
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(
        "reference_app: cannot use the database postgresql+asyncpg://books:***@127.0.0.1:1/books"
    ), result.stderr
    assert "secret" not in result.stderr
