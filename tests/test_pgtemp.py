"""Tests for tools.pgtemp against a real PostgreSQL server (the machines have one installed)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tools import pgtemp
from tools.pgtemp import PgTempError, PostgresServer

ROOT = Path(__file__).resolve().parents[1]
BINDIR = pgtemp.find_bindir()  # fails loudly (instead of skipping) when PostgreSQL is missing


def _pg(prog: str, port: int, *args: str, db: str = "postgres") -> subprocess.CompletedProcess[str]:
    """Run a client binary as ourselves over TCP 127.0.0.1."""
    base = [str(BINDIR / prog), "-h", "127.0.0.1", "-p", str(port)]
    if prog == "psql":
        base += ["-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", db]
    return subprocess.run(
        [*base, *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd="/",
    )


def _postmaster_pid(srv: PostgresServer) -> int:
    assert srv._base is not None
    return int((srv._base / "data" / "postmaster.pid").read_text().split()[0])


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie waiting for PID 1 to reap it counts as dead)."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir():  # Linux: look at the state letter
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.05)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _cli(*args: str, **env: str) -> subprocess.Popen[str]:
    """`python -m tools.pgtemp ARGS` with DATABASE_URL unset unless given in env."""
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
    return subprocess.Popen(
        [sys.executable, "-m", "tools.pgtemp", *args],
        cwd=ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def _occupy(port: int = 0) -> Iterator[int]:
    """Listen on 127.0.0.1:port (0 = any free port) for the duration; yields the port."""
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        busy.bind(("127.0.0.1", port))
        busy.listen()
        yield busy.getsockname()[1]


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as srv:
        yield srv


def test_lifecycle_stop_start_keeps_data_and_port(server: PostgresServer) -> None:
    port = server.port
    assert 20000 <= port <= 32767
    assert server.url == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    assert _pg("pg_isready", port).returncode == 0
    assert _pg("psql", port, "-c", "select 1").stdout.strip() == "1"
    setup = _pg("psql", port, "-c", "create table books (t text); insert into books values ('x')")
    assert setup.returncode == 0, setup.stderr
    first_pid = _postmaster_pid(server)

    server.stop()
    assert not _alive(first_pid)
    assert _pg("pg_isready", port).returncode == 2  # no response
    assert _pg("psql", port, "-c", "select 1").returncode != 0
    server.stop()  # idempotent

    # someone grabbed the port while the server was down: a clear error, not a silent move
    bind_error = r"(?s)pg_ctl start failed.*could not bind.*fix"
    with _occupy(port), pytest.raises(PgTempError, match=bind_error):
        server.start()
    server.start()
    assert server.port == port
    assert _pg("psql", port, "-c", "select t from books").stdout.strip() == "x"

    other = server.create_database("other db")
    assert other == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/other%20db"
    assert (
        _pg("psql", port, "-c", "select current_database()", db="other db").stdout.strip()
        == "other db"
    )
    with pytest.raises(PgTempError, match="createdb 'other db' failed"):
        server.create_database("other db")

    base, pid = server._base, _postmaster_pid(server)
    assert base is not None
    server.cleanup()
    assert not base.exists()
    assert not _alive(pid)
    server.cleanup()  # idempotent
    assert _pg("pg_isready", port).returncode == 2


def test_port_collision_retries_on_another_port(monkeypatch: pytest.MonkeyPatch) -> None:
    with _occupy() as taken:
        chosen: list[int] = []
        real = pgtemp._random_port

        def first_the_busy_port() -> int:
            chosen.append(real() if chosen else taken)
            return chosen[-1]

        monkeypatch.setattr(pgtemp, "_random_port", first_the_busy_port)
        with PostgresServer() as srv:
            assert chosen[0] == taken
            assert srv.port == chosen[-1] != taken
            assert _pg("pg_isready", srv.port).returncode == 0
            assert srv._base is not None
            assert "could not bind" in (srv._base / "server.log").read_text()
            pid, base = _postmaster_pid(srv), srv._base
    assert not _alive(pid)
    assert not base.exists()


def test_failed_initdb_reports_output_and_leaves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    created: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def spy(prefix: str) -> str:
        created.append(real_mkdtemp(prefix=prefix))
        return created[-1]

    with tempfile.TemporaryDirectory() as fake:  # in /tmp: readable by the postgres user
        os.chmod(fake, 0o755)
        for prog, body in (("initdb", "echo 'initdb: boom' >&2; exit 1"), ("pg_ctl", "exit 1")):
            Path(fake, prog).write_text(f"#!/bin/sh\n{body}\n")
            Path(fake, prog).chmod(0o755)
        monkeypatch.setattr(tempfile, "mkdtemp", spy)
        srv = PostgresServer(bindir=fake)
        with pytest.raises(PgTempError, match=r"(?s)initdb failed.*initdb: boom.*how to fix"), srv:
            pytest.fail("not reached")
    assert len(created) == 1
    assert not Path(created[0]).exists()


def test_missing_binaries_give_fix_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PgTempError, match=r"(?s)not found in .*how to fix: install.*PGTEMP_BINDIR"):
        PostgresServer(bindir=str(tmp_path))
    monkeypatch.setenv("PGTEMP_BINDIR", str(tmp_path))
    with pytest.raises(PgTempError, match="DATABASE_URL"):
        PostgresServer()
    monkeypatch.delenv("PGTEMP_BINDIR")
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config
    monkeypatch.setattr(pgtemp, "SEARCH_GLOB", str(tmp_path / "*" / "bin"))
    with pytest.raises(PgTempError, match="pg_config on PATH"):
        PostgresServer()


def test_bindir_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for version in ("9.6", "15", "10"):
        (tmp_path / version / "bin").mkdir(parents=True)
        for prog in ("initdb", "pg_ctl"):
            (tmp_path / version / "bin" / prog).write_text("#!/bin/sh\n")
            (tmp_path / version / "bin" / prog).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PGTEMP_BINDIR", raising=False)
    monkeypatch.setattr(pgtemp, "SEARCH_GLOB", str(tmp_path / "*" / "bin"))
    assert pgtemp.find_bindir() == tmp_path / "15" / "bin"  # numeric, not lexical
    monkeypatch.setenv("PGTEMP_BINDIR", str(tmp_path / "10" / "bin"))
    assert pgtemp.find_bindir() == tmp_path / "10" / "bin"
    assert pgtemp.find_bindir(str(tmp_path / "9.6" / "bin")) == tmp_path / "9.6" / "bin"


def test_cli_runs_command_with_database_url(tmp_path: Path) -> None:
    script = (
        "import os, subprocess, sys; url = os.environ['DATABASE_URL']; "
        "port = url.rsplit(':', 1)[1].split('/')[0]; "
        f"q = subprocess.run([{str(BINDIR / 'psql')!r}, '-XAt', '-h', '127.0.0.1', '-p', port, "
        "'-U', 'postgres', '-c', 'show data_directory'], capture_output=True, text=True); "
        "print(url, q.stdout.strip()); sys.exit(7)"
    )
    with _cli("--", sys.executable, "-c", script) as proc:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 7, err
    url, data_dir = out.split()
    assert url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    assert f"pgtemp: PostgreSQL 15 ready at {url} (" in err
    assert not Path(data_dir).parent.exists()  # cleaned up
    assert _pg("pg_isready", _port_of(url)).returncode == 2


def test_cli_honours_existing_database_url(tmp_path: Path) -> None:
    given = "postgresql+asyncpg://someone@127.0.0.1:1/given"
    script = "import os, sys; print(os.environ['DATABASE_URL']); sys.exit(3)"
    # an unusable PGTEMP_BINDIR proves no server is even looked for
    unusable = str(tmp_path)
    with _cli(sys.executable, "-c", script, DATABASE_URL=given, PGTEMP_BINDIR=unusable) as proc:
        out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out.strip(), err) == (3, given, "")


def test_not_started_errors() -> None:
    srv = PostgresServer()
    with pytest.raises(PgTempError, match="call start"):
        _ = srv.port
    with pytest.raises(PgTempError, match="call start"):
        srv.create_database("x")
    srv.stop()
    srv.cleanup()


def test_cli_usage_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pgtemp.main([]) == 2
    assert pgtemp.main(["--"]) == 2
    assert capsys.readouterr().err.count("usage: python -m tools.pgtemp") == 2
    with _cli("true", PGTEMP_BINDIR=str(tmp_path)) as proc:
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "how to fix" in err
    assert "Traceback" not in err


def test_cli_forwards_sigterm_and_cleans_up(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        "import os, pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        f"pathlib.Path({str(tmp_path / 'tmp')!r}).write_text(os.environ['DATABASE_URL'])\n"
        f"os.replace({str(tmp_path / 'tmp')!r}, {str(ready)!r})\n"
        "time.sleep(60)\n"
    )
    with _cli(sys.executable, "-c", script) as proc:
        _wait_for(ready.exists)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 42, err  # the child's own exit code after the forwarded SIGTERM
    assert "ready at" in err
    assert _pg("pg_isready", _port_of(ready.read_text())).returncode == 2
