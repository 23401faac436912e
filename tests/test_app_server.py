"""``python -m reference_app`` as a real process on a real socket, on both backends."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": "978-0441013593"}
SERVING = re.compile(
    r"^reference_app: serving Books API v1 on (?P<url>http://127\.0\.0\.1:(?P<port>\d+))"
    r" \(database: (?P<database>.+)\)$"
)
STARTUP_TIMEOUT = 60.0
CONCURRENCY = 50


@dataclass
class Server:
    """A running ``python -m reference_app``, and what it wrote to stderr so far."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    url: str = ""
    stderr: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def stdout(self) -> str:
        """What the server wrote to stdout (the access log and the SQL echo)."""
        return self.stdout_path.read_text(errors="replace")

    @property
    def serving_line(self) -> str:
        """The line that says where the app serves."""
        (line,) = [line for line in self.stderr if SERVING.match(line)]
        return line

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` unless stopped already, wait, and collect the rest of stderr."""
        if not self.stopped:
            if self.process.poll() is None:
                self.process.send_signal(signum)
            _, rest = self.process.communicate(timeout=STARTUP_TIMEOUT)
            self.stderr += rest.decode(errors="replace").splitlines()
            self.stopped = True
        return self.process.returncode


def clean_environment(**variables: str) -> dict[str, str]:
    """os.environ without the app's variables, plus ``variables``."""
    app_variables = ("HOST", "PORT", "DATABASE_URL", "SQL_ECHO")
    env = {name: value for name, value in os.environ.items() if name not in app_variables}
    return {**env, **variables}


def run_cli(args: Sequence[str], cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion (for arguments that make it exit at once)."""
    return subprocess.run(
        [sys.executable, "-m", "reference_app", *args],
        cwd=cwd,
        env=clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )


def start_server(args: Sequence[str], cwd: Path, **variables: str) -> Server:
    """Start the CLI and wait, without sleeping, for the line that says where it serves."""
    with (cwd / "stdout.log").open("ab") as stdout:  # the access log and the SQL echo
        process = subprocess.Popen(
            [sys.executable, "-m", "reference_app", *args],
            cwd=cwd,
            env=clean_environment(**variables),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    server = Server(process, cwd / "stdout.log")
    assert process.stderr is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while not server.url:
            if not selector.select(deadline - time.monotonic()):
                server.stop(signal.SIGKILL)
                pytest.fail(f"no 'serving' line within {STARTUP_TIMEOUT} s: {server.stderr}")
            chunk = os.read(process.stderr.fileno(), 65536)
            if not chunk:
                pytest.fail(f"the server exited with {server.stop()}: {server.stderr}")
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                server.stderr.append(line.decode(errors="replace"))
                if match := SERVING.match(server.stderr[-1]):
                    server.url = match["url"]
    return server


StartServer = Callable[..., Server]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[StartServer]:
    """``start(args, **variables)`` starts the CLI in ``tmp_path``; killed after the test."""
    started: list[Server] = []

    def start(args: Sequence[str], **variables: str) -> Server:
        started.append(start_server(args, cwd=tmp_path, **variables))
        return started[-1]

    yield start
    for server in started:
        server.stop(signal.SIGKILL)


@pytest.fixture
def server(backend: str, start: StartServer) -> Server:
    """The app served by ``python -m reference_app --port 0`` on the test's database."""
    return start(["--port", "0", "--database-url", backend])


def test_round_trip_over_a_socket_then_sigterm_exits_0(server: Server, backend: str) -> None:
    expected = f"reference_app: serving Books API v1 on {server.url} (database: {backend})"
    assert server.serving_line == expected

    with httpx.Client(base_url=server.url) as client:
        created = client.post("/books", json=BOOK)
        assert created.status_code == 201
        book = created.json()
        assert created.headers["location"] == f"/books/{book['id']}"
        assert client.get(created.headers["location"]).json() == book
        replaced = client.put(f"/books/{book['id']}", json={**BOOK, "title": "Dune Messiah"})
        assert replaced.json() == {**book, "title": "Dune Messiah"}
        assert client.get("/books").json() == [replaced.json()]
        assert client.delete(f"/books/{book['id']}").status_code == 204
        assert client.get(f"/books/{book['id']}").status_code == 404

    assert server.stop(signal.SIGTERM) == 0
    assert not any("Traceback" in line for line in server.stderr), server.stderr


@pytest.mark.anyio
async def test_concurrent_writers_get_no_5xx(server: Server) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
        # Creates: all succeed, with distinct ids, and all are listed.
        bodies = [{**BOOK, "title": f"Book {n}"} for n in range(CONCURRENCY)]
        created = await asyncio.gather(*(client.post("/books", json=body) for body in bodies))
        assert [response.status_code for response in created] == [201] * CONCURRENCY
        ids = {response.json()["id"] for response in created}
        assert len(ids) == CONCURRENCY
        listed = (await client.get("/books")).json()
        assert {book["id"] for book in listed} == ids

        # Replacements of one book: all succeed, and one of them wins whole.
        target = created[0].json()["id"]
        replacements = [{**BOOK, "title": f"Title {n}", "year": n} for n in range(CONCURRENCY)]
        replaced = await asyncio.gather(
            *(client.put(f"/books/{target}", json=body) for body in replacements)
        )
        assert [response.status_code for response in replaced] == [200] * CONCURRENCY
        final = (await client.get(f"/books/{target}")).json()
        assert {key: final[key] for key in BOOK} in replacements

        # A delete racing reads: the reads see the book or a 404, nothing else.
        requests = [client.delete(f"/books/{target}")]
        requests += [client.get(f"/books/{target}") for _ in range(CONCURRENCY - 1)]
        deleted, *reads = await asyncio.gather(*requests)
        assert deleted.status_code == 204
        assert {response.status_code for response in reads} <= {200, 404}

    assert server.stop() == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sigint_exits_0(server: Server) -> None:
    assert server.stop(signal.SIGINT) == 0
    assert not any("Traceback" in line for line in server.stderr), server.stderr


def test_default_database_is_sqlite_books_db_in_the_working_directory(
    start: StartServer, tmp_path: Path
) -> None:
    server = start(["--port", "0"])
    assert server.serving_line.endswith("(database: sqlite+aiosqlite:///./books.db)")
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/books", json=BOOK).status_code == 201
    assert server.stop() == 0
    assert (tmp_path / "books.db").is_file()
    assert "POST /books HTTP/1.1" in server.stdout
    assert "INSERT INTO books" not in server.stdout + "\n".join(server.stderr)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_environment_variables_are_the_fallbacks(
    backend: str, start: StartServer, tmp_path: Path
) -> None:
    server = start([], HOST="127.0.0.1", PORT="0", DATABASE_URL=backend)
    assert server.serving_line.endswith(f"(database: {backend})")
    assert server.stop() == 0
    assert not (tmp_path / "books.db").exists()


@pytest.mark.parametrize(
    ("args", "variables"), [(["--echo"], {}), ([], {"SQL_ECHO": "1"})], ids=["--echo", "SQL_ECHO"]
)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sql_echo_on_request(
    backend: str, start: StartServer, args: list[str], variables: dict[str, str]
) -> None:
    server = start(["--port", "0", "--database-url", backend, *args], **variables)
    with httpx.Client(base_url=server.url) as client:
        assert client.post("/books", json=BOOK).status_code == 201
    assert server.stop() == 0
    assert server.stdout.count("INSERT INTO books") == 1
    assert not any("INSERT INTO books" in line for line in server.stderr)


def test_bad_input_is_one_line_error_and_exit_2_without_traceback(tmp_path: Path) -> None:
    result = run_cli(["--port", "http"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "python -m reference_app: error: argument --port: 'http' is not a port number;"
        " use an integer from 0 to 65535 (0 picks a free port)"
    )
    assert list(tmp_path.iterdir()) == []  # no database file created


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_port_in_use_is_one_line_error_and_exit_1(
    backend: str, server: Server, tmp_path: Path
) -> None:
    port = server.url.rsplit(":", 1)[1]
    result = run_cli(["--port", port, "--database-url", backend], tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"reference_app: cannot listen on 127.0.0.1:{port}: ")
    assert "Address already in use" in line
