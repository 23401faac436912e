"""Command line: ``python -m reference_app --host H --port P --database-url URL [--echo]
[--workers N] [--no-access-log] [--migrate | --check | --no-migrate]``.

Every option falls back to an environment variable (``HOST``, ``PORT``,
``DATABASE_URL``, ``SQL_ECHO=1``, ``WORKERS``, ``ACCESS_LOG=0``), then to a default that
serves on 127.0.0.1:8000 from ``books.db`` in the working directory, in one process. ``--port 0``
binds a free port. Before serving, the command waits for the database (retrying with
backoff for up to ``STARTUP_WAIT_S``) and migrates its schema once, in this process, so that
``--workers N`` processes start on an up-to-date database. Once the app is ready, one line on
stderr says where it serves::

    reference_app: serving Books API v1 on http://127.0.0.1:8000 (database: sqlite+aiosqlite:///./books.db)

``--migrate`` only migrates the schema, ``--check`` only checks that the database can be
used and its schema is current (exit 0, else 3 with one line); ``--no-migrate`` serves
without migrating (for several separately started servers on one database, migrated once
with ``--migrate``). The access log and the SQL echo go to stdout. SIGINT and SIGTERM stop
the server gracefully (bounded, see ``reference_app.server``) with exit status 0; bad
arguments exit with 2, a port that cannot be bound with 1, and a database that cannot be used
with 3 and one line naming it (password masked).
"""

# Responder 9 ships ``py.typed`` but leaves its public API unannotated.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import urllib.request
from collections.abc import Sequence
from types import FrameType

import uvicorn
import uvloop
from uvicorn.supervisors import Multiprocess

from reference_app.app import create_app
from reference_app.database import (
    DEFAULT_DATABASE_URL,
    STARTUP_WAIT_S,
    DatabaseUnreachable,
    DatabaseURLError,
    display_url,
    parse_database_url,
    prepare_url,
)
from reference_app.server import uvicorn_options

logger = logging.getLogger("reference_app")


def port_number(value: str) -> int:
    """argparse type: a TCP port, 0 meaning "any free port"."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a port number; use an integer from 0 to 65535 (0 picks a free port)"
        )
    return port


def database_url(value: str) -> str:
    """argparse type: a database URL with a supported driver."""
    try:
        parse_database_url(value)
    except DatabaseURLError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults come from the environment."""
    parser = argparse.ArgumentParser(
        prog="python -m reference_app",
        description="Serve the Books API v1 reference implementation.",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address to listen on (env HOST, default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=os.environ.get("PORT", "8000"),
        help="port to listen on, 0 for any free port (env PORT, default 8000)",
    )
    parser.add_argument(
        "--database-url",
        type=database_url,
        default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        help=(
            "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB "
            f"(env DATABASE_URL, default {DEFAULT_DATABASE_URL})"
        ),
    )
    parser.add_argument(
        "--echo",
        action="store_true",
        default=os.environ.get("SQL_ECHO") == "1",
        help="log every SQL statement (env SQL_ECHO=1)",
    )
    parser.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        default=os.environ.get("ACCESS_LOG", "1") != "0",
        help="do not log each request to stdout (env ACCESS_LOG=0; about 10%% of the CPU "
        "a request costs)",
    )
    parser.add_argument(
        "--workers",
        type=worker_count,
        default=os.environ.get("WORKERS", "1"),
        help="number of server processes sharing the port (env WORKERS, default 1)",
    )
    parser.add_argument(
        "--database-wait",
        type=seconds,
        default=os.environ.get("DATABASE_WAIT", str(STARTUP_WAIT_S)),
        metavar="SECONDS",
        help=(
            "how long to wait for the database at start, retrying with backoff "
            f"(env DATABASE_WAIT, default {STARTUP_WAIT_S:g})"
        ),
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--migrate", action="store_true", help="migrate the database schema, then exit"
    )
    action.add_argument(
        "--check",
        action="store_true",
        help="check that the database can be used and its schema is current, then exit",
    )
    action.add_argument(
        "--no-migrate", action="store_true", help="serve without migrating the schema first"
    )
    return parser


def seconds(value: str) -> float:
    """argparse type: a duration in seconds, 0 to 600."""
    try:
        duration = float(value)
    except ValueError:
        duration = -1.0
    if not 0 <= duration <= 600:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration; use 0 to 600 seconds")
    return duration


def worker_count(value: str) -> int:
    """argparse type: a number of worker processes."""
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if not 1 <= workers <= 64:
        raise argparse.ArgumentTypeError(f"{value!r} is not a worker count; use 1 to 64")
    return workers


def worker_app() -> object:
    """The app of one ``--workers`` process (uvicorn imports it by name in each process)."""
    return create_app(
        os.environ["DATABASE_URL"], echo=os.environ.get("SQL_ECHO") == "1", prepare=False
    )


def announce_when_ready(url: str, line: str, stop: threading.Event) -> None:
    """Log ``line`` once ``url``/healthz answers 200 (any worker: they share the socket)."""
    while not stop.wait(0.05):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    logger.info("%s", line)
                    return
        except OSError:
            continue


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so that the real port is known for ``--port 0``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # with proto 0 every keep-alive response waits ~40 ms on Nagle's algorithm.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listen now: connections made once the ready line is out queue in the backlog
        # even if the event loop has not started accepting yet.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def ignore_signal(signum: int, frame: FrameType | None) -> None:
    """Signal handler that does nothing (see :func:`main`)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit status (see above)."""
    args = build_parser().parse_args(argv)
    # Only this app's logger: uvicorn and SQLAlchemy (--echo) bring their own handlers.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    if args.migrate or args.check:
        status = prepare(args)
        assert status is not None
        return status

    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"reference_app: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    ready_line = f"serving Books API v1 on {url} (database: {display_url(args.database_url)})"
    status = prepare(args)
    if status is not None:
        sock.close()
        return status

    if args.workers > 1:
        return serve_workers(args, sock, url, ready_line)

    api = create_app(args.database_url, echo=args.echo, prepare=False)

    async def announce() -> None:
        logger.info("%s", ready_line)

    api.add_event_handler("startup", announce)

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the same signal
    # again so that the default handler ends the process. Replace the default
    # handlers with no-ops: the shutdown was clean, so the exit status is 0.
    signal.signal(signal.SIGINT, ignore_signal)
    signal.signal(signal.SIGTERM, ignore_signal)

    config = uvicorn.Config(api, lifespan="on", access_log=args.access_log, **uvicorn_options())
    server = uvicorn.Server(config)
    with sock, asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(server.serve(sockets=[sock]))
    return 0 if server.started else 3


def serve_workers(args: argparse.Namespace, sock: socket.socket, url: str, line: str) -> int:
    """Serve with ``args.workers`` processes sharing ``sock``; uvicorn supervises them."""
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["SQL_ECHO"] = "1" if args.echo else "0"
    config = uvicorn.Config(
        "reference_app.__main__:worker_app",
        factory=True,
        lifespan="on",
        workers=args.workers,
        access_log=args.access_log,
        **uvicorn_options(),
        loop="uvloop",
    )
    stop = threading.Event()
    announcer = threading.Thread(target=announce_when_ready, args=(url, line, stop), daemon=True)
    announcer.start()
    with sock:
        Multiprocess(config, sockets=[sock]).run()
    stop.set()
    return 0


def prepare(args: argparse.Namespace) -> int | None:
    """Wait for the database and migrate it (or only check it); an exit status to stop with."""
    try:
        asyncio.run(
            prepare_url(
                args.database_url,
                migrate=not (args.no_migrate or args.check),
                check=args.check,
                wait_s=args.database_wait,
                log=lambda message: logger.info("%s", message),
            )
        )
    except DatabaseUnreachable as exc:
        print(f"reference_app: {exc}", file=sys.stderr)
        return 3
    if args.migrate or args.check:
        logger.info(
            "database %s: schema %s",
            display_url(args.database_url),
            "migrated" if args.migrate else "current",
        )
        return 0
    return None


if __name__ == "__main__":
    sys.exit(main())
