"""Throwaway PostgreSQL server for tests and local runs (stdlib only).

Library::

    from tools.pgtemp import PostgresServer

    with PostgresServer() as pg:          # initdb + start on a random port on 127.0.0.1
        engine = create_async_engine(pg.url)
        other_url = pg.create_database("other")
        pg.stop()                         # "database down"; pg.start() brings it back
    # stopped and deleted here

CLI (runs CMD with DATABASE_URL set, and CONFORMANCE_REFERENCE_DB to the same URL so that the
kit boots its reference app on it; reuses an existing DATABASE_URL as is)::

    python -m tools.pgtemp -- pytest tests/

As root the server binaries run through ``runuser -u postgres`` (PostgreSQL refuses root).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from urllib.parse import quote

SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
PORT_RANGE = (20000, 32767)
PORT_TRIES = 10
TIMEOUT = 120.0
BIND_ERRORS = ("could not bind", "Address already in use")
FIX = (
    "install the PostgreSQL server (e.g. `apt-get install postgresql`), set PGTEMP_BINDIR to "
    "the directory holding initdb and pg_ctl, or set DATABASE_URL to use an existing database"
)
USAGE = "usage: python -m tools.pgtemp [--] CMD [ARGS...]  (runs CMD with DATABASE_URL set)"


class PgTempError(RuntimeError):
    """Starting, stopping or using the throwaway server failed (the message says how to fix it)."""


def _random_port() -> int:
    return random.randint(*PORT_RANGE)


def _version_key(bindir: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", Path(bindir).parent.name)]


def find_bindir(bindir: str | None = None) -> Path:
    """bindir > $PGTEMP_BINDIR > `pg_config --bindir` > newest /usr/lib/postgresql/*/bin."""
    explicit = bindir or os.environ.get("PGTEMP_BINDIR")
    candidates = [explicit] if explicit else []
    pg_config = shutil.which("pg_config")
    if not explicit and pg_config:
        out = subprocess.run(
            [pg_config, "--bindir"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT,
        )
        candidates += [out.stdout.strip()] if out.returncode == 0 else []
    if not explicit:
        candidates += sorted(glob.glob(SEARCH_GLOB), key=_version_key, reverse=True)
    for cand in candidates:
        if all(os.access(Path(cand, prog), os.X_OK) for prog in ("initdb", "pg_ctl")):
            return Path(cand)
    where = ", ".join(candidates) or f"pg_config on PATH and {SEARCH_GLOB}"
    raise PgTempError(
        f"pgtemp: PostgreSQL server binaries (initdb, pg_ctl) not found in {where}\n"
        f"how to fix: {FIX}"
    )


def _run_as_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PgTempError(
        "pgtemp: running as root but neither user 'postgres' nor 'nobody' exists\n"
        "how to fix: create a 'postgres' user or run as a normal user"
    )


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp dir, listening on 127.0.0.1 only.

    Example::

        with PostgresServer() as pg:
            print(pg.url)   # postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres
            pg.stop()       # server down, data kept
            pg.start()      # same data dir and port
    """

    def __init__(self, *, bindir: str | None = None, port: int | None = None) -> None:
        self._bindir = find_bindir(bindir)
        self._user = _run_as_user()
        self._fixed_port = port
        self._port = port
        self._base: Path | None = None
        self._running = False

    @property
    def port(self) -> int:
        if self._port is None:
            raise PgTempError("pgtemp: server not started yet\nhow to fix: call start() first")
        return self._port

    @property
    def url(self) -> str:
        return self._url("postgres")

    def _url(self, dbname: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def start(self) -> None:
        """initdb on first start, then pg_ctl start (a random free port unless one was given)."""
        if self._running:
            return
        atexit.register(self.cleanup)
        if self._base is None:
            self._initdb()
        assert self._base is not None
        data, sock, log = self._base / "data", self._base / "sock", self._base / "server.log"
        for _ in range(1 if self._port is not None else PORT_TRIES):
            port = self._port if self._port is not None else _random_port()
            log_start = log.stat().st_size if log.exists() else 0
            opts = (
                f"-p {port} -c listen_addresses=127.0.0.1 -k {shlex.quote(str(sock))} -c fsync=off"
            )
            self._running = True  # possibly running from here on; stop() tolerates "not running"
            rc, out = self._run(
                "pg_ctl", "-D", str(data), "-w", "-t", "60", "-l", str(log), "-o", opts, "start"
            )
            if rc == 0:
                self._port = port
                return
            self.stop()
            new_log = log.read_bytes()[log_start:].decode(errors="replace") if log.exists() else ""
            if self._port is None and any(e in new_log for e in BIND_ERRORS):
                continue
            raise self._error(
                f"pg_ctl start failed on port {port}",
                out,
                "see the server log above; pass another port= or free this one",
            )
        raise self._error(
            f"no free port after {PORT_TRIES} tries in {PORT_RANGE}",
            "",
            "free some ports in that range or pass port=",
        )

    def stop(self) -> None:
        """Stop the server (idempotent); data dir and port are kept for a later start()."""
        if not self._running or self._base is None:
            return
        data = str(self._base / "data")
        rc, out = self._run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        if rc != 0 and self._run("pg_ctl", "-D", data, "status")[0] not in (3, 4):
            raise self._error("pg_ctl stop failed", out, f"stop it by hand: pg_ctl -D {data} stop")
        self._running = False

    def cleanup(self) -> None:
        """Stop the server and remove its temp dirs (idempotent)."""
        self.stop()
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None
        self._port = self._fixed_port
        atexit.unregister(self.cleanup)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name; returns its asyncpg URL."""
        if not self._running:
            raise PgTempError("pgtemp: server not running\nhow to fix: call start() first")
        rc, out = self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "--", name
        )
        if rc != 0:
            raise self._error(f"createdb {name!r} failed", out, "use a name not taken yet")
        return self._url(name)

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _initdb(self) -> None:
        self._base = Path(tempfile.mkdtemp(prefix="pgtemp-"))
        (self._base / "sock").mkdir()
        if self._user is not None:
            for path in (self._base, self._base / "sock"):
                os.chown(path, self._user.pw_uid, self._user.pw_gid)
        rc, out = self._run(
            "initdb",
            "-D",
            str(self._base / "data"),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "-A",
            "trust",
            "--no-sync",
        )
        if rc != 0:
            raise self._error("initdb failed", out, "see the initdb output above")

    def _run(self, prog: str, *args: str) -> tuple[int, str]:
        """Run a server binary (as the run-as user, cwd=/, no inherited fds, output to a file)."""
        runuser = ["runuser", "-u", self._user.pw_name, "--"] if self._user else []
        cmd = [*runuser, str(self._bindir / prog), *args]
        with tempfile.TemporaryFile() as out:
            try:
                rc = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd="/",
                    close_fds=True,
                    timeout=TIMEOUT,
                    check=False,
                ).returncode
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise self._error(f"could not run {shlex.join(cmd)}: {exc}", "", FIX) from exc
            out.seek(0)
            return rc, out.read().decode(errors="replace")

    def _error(self, what: str, output: str, fix: str) -> PgTempError:
        parts = [f"pgtemp: {what}"]
        if output.strip():
            parts.append(f"command output:\n{output.strip()}")
        log = self._base / "server.log" if self._base else None
        if log is not None and log.exists():
            tail = log.read_text(errors="replace").splitlines()[-20:]
            parts.append(f"server log {log} (last lines):\n" + "\n".join(tail))
        parts.append(f"how to fix: {fix}")
        return PgTempError("\n".join(parts))

    def _version(self) -> str:
        assert self._base is not None
        return (self._base / "data" / "PG_VERSION").read_text().strip()


def main(argv: list[str] | None = None) -> int:
    cmd = list(sys.argv[1:] if argv is None else argv)
    cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
    if not cmd:
        print(USAGE, file=sys.stderr)
        return 2
    received: list[int] = []
    children: list[subprocess.Popen[bytes]] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)  # acted on once the server is up / forwarded to the child
        for child in children:
            child.send_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    server: PostgresServer | None = None
    try:
        url = os.environ.get("DATABASE_URL", "")
        if not url:
            started = time.monotonic()
            server = PostgresServer()
            server.start()
            print(
                f"pgtemp: PostgreSQL {server._version()} ready at {server.url} "
                f"({time.monotonic() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
            url = server.url
        env = {**os.environ, "DATABASE_URL": url, "CONFORMANCE_REFERENCE_DB": url}
        if received:
            return 128 + received[0]
        try:
            child = subprocess.Popen(cmd, env=env, close_fds=True)
        except OSError as exc:
            print(f"pgtemp: cannot run {cmd[0]!r}: {exc}", file=sys.stderr)
            return 127
        with child:
            children.append(child)
            rc = child.wait()
        return 128 - rc if rc < 0 else rc
    except PgTempError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        try:
            if server is not None:
                server.cleanup()
        except PgTempError as exc:
            print(exc, file=sys.stderr)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
