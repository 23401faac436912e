"""Serve the zoo: ``python -m tests.zoo --host 127.0.0.1 --port 0``.

Every variant runs in one process under its own path prefix, with its own in-memory store:
``/correct/books...`` and ``/<mutant-name>/books...``; ``GET /`` lists them. ``--only NAME`` serves
one variant at the root instead. Once listening, one line goes to stdout::

    zoo: serving N variants on http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from collections.abc import Sequence

import uvicorn

from .app import (
    ASGIApp,
    BooksApp,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    encode_json,
    route_path,
    send_response,
    serve_lifespan,
)
from .mutants import MUTANTS, Mutant
from .race_mutants import RACE_MUTANTS

CORRECT = "correct"
#: Every mutant served: those of ``mutants.py`` and the races of ``race_mutants.py``.
SERVED: tuple[Mutant, ...] = (*MUTANTS, *RACE_MUTANTS)
SERVED_BY_NAME: dict[str, Mutant] = {m.name: m for m in SERVED}
VARIANTS: tuple[str, ...] = (CORRECT, *(m.name for m in SERVED))


def create_app(mutant: str | None = None) -> ASGIApp:
    """A fresh app (with an empty store): the correct one for ``None``/``"correct"``."""
    if mutant is None or mutant == CORRECT:
        return BooksApp()
    try:
        return SERVED_BY_NAME[mutant].app_class()
    except KeyError:
        raise ValueError(f"unknown variant {mutant!r}; choose from {', '.join(VARIANTS)}") from None


def _json(status: int, payload: object) -> Response:
    return Response(status, encode_json(payload), "application/json")


class Zoo:
    """Dispatches ``/<variant>/...`` to that variant's app (the prefix becomes ``root_path``)."""

    def __init__(self, apps: dict[str, ASGIApp]):
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = route_path(scope)
        name = path[1:].split("/", 1)[0]
        app = self.apps.get(name)
        if app is not None:
            child = dict(scope)
            child["root_path"] = scope.get("root_path", "") + "/" + name
            await app(child, receive, send)
            return
        request = Request.from_scope(scope, receive)
        if path == "/" and request.method in ("GET", "HEAD"):
            response = _json(200, {"variants": describe()})
        else:
            response = _json(404, {"error": f"no variant at {path!r}; GET / lists them"})
        await send_response(send, response, head=request.method == "HEAD")


def describe() -> list[dict[str, object]]:
    """The variants as data: name, path prefix, and for mutants what they break."""
    rows: list[dict[str, object]] = [{"name": CORRECT, "path": f"/{CORRECT}", "breaks": None}]
    for m in SERVED:
        rows.append(
            {
                "name": m.name,
                "path": f"/{m.name}",
                "breaks": m.breaks,
                "also": list(m.also),
                "description": m.description,
            }
        )
    return rows


def create_zoo_app() -> ASGIApp:
    """Every variant, each under ``/<name>`` with its own store."""
    return Zoo({name: create_app(name) for name in VARIANTS})


class _AnnouncingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, line: str):
        super().__init__(config)
        self.line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self.line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.zoo", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (the default)")
    parser.add_argument(
        "--only",
        metavar="NAME",
        choices=VARIANTS,
        help="serve one variant at the root instead of all under prefixes",
    )
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    args = parser.parse_args(argv)
    if args.list:
        for row in describe():
            description = row.get("description", "the correct implementation")
            print(f"{row['name']}\t{row['breaks'] or '-'}\t{description}")
        return 0
    try:
        address = ipaddress.ip_address(args.host)
    except ValueError:
        parser.error(f"--host must be a loopback IP address, not {args.host!r}")
    if not address.is_loopback:
        parser.error(f"--host must be a loopback address (the zoo is for local tests): {args.host}")

    app = create_app(args.only) if args.only else create_zoo_app()
    count = 1 if args.only else len(VARIANTS)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so TCP_NODELAY is set
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if address.version == 6 else args.host
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = _AnnouncingServer(config, f"zoo: serving {count} variants on http://{host}:{port}")
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
