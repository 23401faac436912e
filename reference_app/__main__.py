"""Command line: ``python -m reference_app --host H --port P --database-url URL [--echo]``.

Every option falls back to an environment variable (``HOST``, ``PORT``,
``DATABASE_URL``, ``SQL_ECHO=1``), then to a default that serves on
127.0.0.1:8000 from ``books.db`` in the working directory. ``--port 0`` binds a
free port. Once the app is ready, one line on stderr says where it serves::

    reference_app: serving Books API v1 on http://127.0.0.1:8000 (database: sqlite+aiosqlite:///./books.db)

The access log and the SQL echo go to stdout. SIGINT and SIGTERM stop the server
gracefully with exit status 0; bad arguments exit with 2, a port that cannot be
bound with 1, and an app that cannot start (e.g. the database is down) with 3.
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
from collections.abc import Sequence
from types import FrameType

import uvicorn

from reference_app.app import create_app
from reference_app.database import (
    DEFAULT_DATABASE_URL,
    DatabaseURLError,
    display_url,
    parse_database_url,
)

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
    return parser


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so that the real port is known for ``--port 0``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # with proto 0 every keep-alive response waits ~40 ms on Nagle's algorithm.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
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

    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"reference_app: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    api = create_app(args.database_url, echo=args.echo)

    async def announce() -> None:
        logger.info(
            "serving Books API v1 on %s (database: %s)", url, display_url(args.database_url)
        )

    api.add_event_handler("startup", announce)

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the same signal
    # again so that the default handler ends the process. Replace the default
    # handlers with no-ops: the shutdown was clean, so the exit status is 0.
    signal.signal(signal.SIGINT, ignore_signal)
    signal.signal(signal.SIGTERM, ignore_signal)

    config = uvicorn.Config(api, lifespan="on")
    server = uvicorn.Server(config)
    with sock:
        asyncio.run(server.serve(sockets=[sock]))
    return 0 if server.started else 3


if __name__ == "__main__":
    sys.exit(main())
