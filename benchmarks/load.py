"""A bounded load generator for Books API servers on 127.0.0.1, and the peer comparison.

``python benchmarks/load.py`` starts each target in turn on a fresh database — the reference
app on SQLite and on Postgres (a throwaway server from tools.pgtemp), and the Responder
tutorial app on SQLite — drives it with N keep-alive clients for a fixed time each, and prints
req/s, p50/p99 per operation, 5xx and errors. Each client loops: POST, GET it, PUT it, every
fifth loop GET /books, DELETE it. ``--url URL`` measures one running server instead.
Raw HTTP/1.1 over asyncio streams keeps the client's own CPU cost small (the client and the
server share the machine's cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOOK = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "isbn": "978-0441013593"}


class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors = 0
        self.server_errors = 0


async def request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    body: bytes | None = None,
) -> tuple[int, bytes]:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + (body or b""))
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split()[1])
    length = 0
    chunked = False
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        data = b""
        while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) != 0:
            data += await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
        return status, data
    return status, await reader.readexactly(length)


async def client(port: int, stop_at: float, stats: Stats, n: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loops = 0
    try:
        while time.monotonic() < stop_at:
            loops += 1
            body = json.dumps({**BOOK, "title": f"client {n} loop {loops}"}).encode()
            steps = [("create", "POST", "/books", body)]
            book_id = None
            for op, method, path, payload in steps:
                started = time.perf_counter()
                status, data = await request(reader, writer, method, path, payload)
                stats.latencies[op].append(time.perf_counter() - started)
                if status >= 500:
                    stats.server_errors += 1
                    break
                book_id = json.loads(data)["id"]
            if book_id is None:
                continue
            plan = [
                ("get", "GET", f"/books/{book_id}", None),
                ("replace", "PUT", f"/books/{book_id}", body),
            ]
            if loops % 5 == 0:
                plan.append(("list", "GET", "/books", None))
            plan.append(("delete", "DELETE", f"/books/{book_id}", None))
            for op, method, path, payload in plan:
                started = time.perf_counter()
                status, _ = await request(reader, writer, method, path, payload)
                stats.latencies[op].append(time.perf_counter() - started)
                if status >= 500:
                    stats.server_errors += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        stats.errors += 1
    finally:
        writer.close()


async def drive(port: int, clients: int, seconds: float) -> tuple[float, Stats]:
    stats = Stats()
    started = time.monotonic()
    await asyncio.gather(*(client(port, started + seconds, stats, n) for n in range(clients)))
    elapsed = time.monotonic() - started
    return sum(map(len, stats.latencies.values())) / elapsed, stats


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def report(name: str, clients: int, rate: float, stats: Stats) -> dict[str, object]:
    ops = " ".join(
        f"{op} {percentile(v, 50) * 1000:.0f}/{percentile(v, 99) * 1000:.0f}"
        for op, v in sorted(stats.latencies.items())
    )
    print(
        f"{name:<24} {clients:>3} clients {rate:7.0f} req/s  5xx {stats.server_errors}"
        f"  errors {stats.errors}  p50/p99 ms: {ops}",
        flush=True,
    )
    writes = stats.latencies["create"] + stats.latencies["replace"] + stats.latencies["delete"]
    return {"rate": rate, "write_p99_ms": percentile(writes, 99) * 1000}


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"target exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/books", timeout=2):
                return
        except OSError:
            time.sleep(0.1)  # polling interval
    raise SystemExit("target not ready")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def targets(postgres_url: str | None, workers: int) -> list[tuple[str, list[str], dict[str, str]]]:
    ref = [sys.executable, "-m", "reference_app", "--host", "127.0.0.1", "--workers", str(workers)]
    uv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level", "warning"]
    found = [
        ("reference sqlite", [*ref, "--database-url", "sqlite+aiosqlite:///{dir}/ref.db"], {}),
        (
            "tutorial sqlite",
            [*uv, "--no-access-log", "benchmarks.peers.tutorial_app:api"],
            {"DATABASE_URL": "sqlite+aiosqlite:///{dir}/tutorial.db"},
        ),
    ]
    try:
        import fastapi  # noqa: F401

        found.append(
            (
                "fastapi sqlite",
                [*uv, "--no-access-log", "benchmarks.peers.fastapi_app:app"],
                {"DATABASE_URL": "sqlite+aiosqlite:///{dir}/fastapi.db"},
            )
        )
    except ImportError:
        print("(fastapi not installed: uv sync --extra bench to compare with the FastAPI peer)")
    if postgres_url:
        found.append(("reference postgres", [*ref, "--database-url", postgres_url], {}))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="measure this running server (127.0.0.1 only)")
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="reference app processes")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    if args.url:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/?", args.url)
        if not match:
            raise SystemExit("--url must be http://127.0.0.1:PORT")
        for clients in levels:
            report(args.url, clients, *asyncio.run(drive(int(match[1]), clients, args.seconds)))
        return 0

    from tools.pgtemp import PostgresServer

    with PostgresServer() as pg, tempfile.TemporaryDirectory() as directory:
        results: dict[tuple[str, int], dict[str, object]] = {}
        for name, command, env in targets(pg.create_database("bench"), args.workers):
            port = free_port()
            command = [part.format(dir=directory) for part in command] + ["--port", str(port)]
            environment = {**os.environ, **{k: v.format(dir=directory) for k, v in env.items()}}
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_ready(port, process)
                for clients in levels:
                    rate, stats = asyncio.run(drive(port, clients, args.seconds))
                    results[name, clients] = report(name, clients, rate, stats)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        for clients in levels:
            base = results.get(("tutorial sqlite", clients))
            peer = results.get(("fastapi sqlite", clients))
            for name in ("reference sqlite", "reference postgres"):
                if (name, clients) in results and base:
                    ratio = results[name, clients]["rate"] / base["rate"]  # type: ignore[operator]
                    line = f"{name} at {clients}: {ratio:.2f}x tutorial"
                    if peer:
                        line += f", {results[name, clients]['rate'] / peer['rate']:.2f}x fastapi"  # type: ignore[operator]
                    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
