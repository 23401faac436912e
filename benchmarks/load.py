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
import contextlib
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
            plan: list[tuple[str, str, str, bytes | None]] = [
                ("get", "GET", f"/books/{book_id}", None),
                ("replace", "PUT", f"/books/{book_id}", body),
            ]
            if loops % 5 == 0:
                plan.append(("list", "GET", "/books", None))
            plan.append(("delete", "DELETE", f"/books/{book_id}", None))
            for op, method, path, content in plan:
                started = time.perf_counter()
                status, _ = await request(reader, writer, method, path, content)
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


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return float(statistics.quantiles(values, n=100, method="inclusive")[q - 1])


def merge(runs: list[Stats]) -> Stats:
    merged = Stats()
    for stats in runs:
        for op, values in stats.latencies.items():
            merged.latencies[op].extend(values)
        merged.errors += stats.errors
        merged.server_errors += stats.server_errors
    return merged


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(
    name: str, clients: int, rates: list[float], stats: Stats, cpu: list[float] | None = None
) -> None:
    ops = " ".join(
        f"{op} {percentile(v, 50) * 1000:.0f}/{percentile(v, 99) * 1000:.0f}"
        for op, v in sorted(stats.latencies.items())
    )
    spread = "/".join(f"{r:.0f}" for r in rates)
    print(
        f"{name:<22} {clients:>3} clients {statistics.median(rates):6.0f} req/s ({spread})"
        + (f"  CPU {statistics.median(cpu) * 1e6:.0f} us/req" if cpu else "")
        + f"  5xx {stats.server_errors}  errors {stats.errors}  p50/p99 ms: {ops}",
        flush=True,
    )


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


#: name -> (command, environment); {url} is the target's own fresh database, {port} its port.
REF = [sys.executable, "-m", "reference_app", "--host", "127.0.0.1", "--port", "{port}"]
UVICORN = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}"]
PEER = [*UVICORN, "--log-level", "warning", "--no-access-log"]
VARIANT = [
    sys.executable,
    "benchmarks/ref_variant.py",
    "--port",
    "{port}",
    "--database-url",
    "{url}",
]
TARGETS: dict[str, tuple[list[str], dict[str, str]]] = {
    # Every target without an access log (the peers' --no-access-log, the reference app's).
    "reference": ([*REF, "--no-access-log", "--database-url", "{url}"], {}),
    "tutorial": ([*PEER, "benchmarks.peers.tutorial_app:api"], {"DATABASE_URL": "{url}"}),
    "fastapi": ([*PEER, "benchmarks.peers.fastapi_app:app"], {"DATABASE_URL": "{url}"}),
    # Variants of the reference app, for measuring one setting (--targets).
    "ref-accesslog": ([*REF, "--database-url", "{url}"], {}),  # its default
    "ref-h11": ([*VARIANT, "--http", "h11"], {}),
    "ref-httptools": ([*VARIANT, "--http", "httptools"], {}),
}
DEFAULT_TARGETS = "reference,tutorial,fastapi"


def start(name: str, backend: str, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command, env = TARGETS[name]
    fill = {"url": url, "port": str(port)}
    return subprocess.Popen(
        [part.format(**fill) for part in command],
        cwd=ROOT,
        env={**os.environ, **{k: v.format(**fill) for k, v in env.items()}},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="measure this running server (127.0.0.1 only)")
    parser.add_argument("--clients", default="16,64")
    parser.add_argument("--seconds", type=float, default=5.0, help="per target, level and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--targets", default=DEFAULT_TARGETS, help=f"of {', '.join(TARGETS)}")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    if args.url:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/?", args.url)
        if not match:
            raise SystemExit("--url must be http://127.0.0.1:PORT")
        for clients in levels:
            for _ in range(args.rounds):
                rate, stats = asyncio.run(drive(int(match[1]), clients, args.seconds))
                report(args.url, clients, [rate], stats)
        return 0
    names = args.targets.split(",")
    backends = args.backends.split(",")
    unknown = set(names) - set(TARGETS)
    if unknown:
        raise SystemExit(f"unknown targets {sorted(unknown)}; choose from {', '.join(TARGETS)}")
    if "fastapi" in names:
        try:
            import fastapi  # noqa: F401
        except ImportError:
            print("(fastapi not installed: uv sync --extra bench to compare with the FastAPI peer)")
            names.remove("fastapi")

    from tools.pgtemp import PostgresServer

    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        pg = stack.enter_context(PostgresServer()) if "postgres" in backends else None
        # Every target runs for the whole run, each on its own fresh database, idle but for
        # its turn; rounds interleave the targets so that the box's other load hits all alike.
        ports: dict[str, int] = {}
        processes: list[subprocess.Popen[bytes]] = []
        for backend in backends:
            for name in names:
                key = f"{name} {backend}"
                if backend == "sqlite":
                    url = f"sqlite+aiosqlite:///{directory}/{name}.db"
                else:
                    assert pg is not None
                    url = pg.create_database(name.replace("-", "_"))
                ports[key] = free_port()
                process = start(name, backend, url, ports[key], directory / f"{name}-{backend}.log")
                processes.append(process)
                stack.callback(stop, process)
        for key, process in zip(ports, processes, strict=True):
            wait_ready(ports[key], process)
        print(
            f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True
        )
        for port in ports.values():  # warm up: connections, caches, JIT-free but import-lazy paths
            asyncio.run(drive(port, 16, 1.0))
        rates: dict[tuple[str, int], list[float]] = defaultdict(list)
        # Server CPU seconds per request: robust to the box's other load, unlike req/s.
        cpu: dict[tuple[str, int], list[float]] = defaultdict(list)
        pids = {key: process.pid for key, process in zip(ports, processes, strict=True)}
        runs: dict[tuple[str, int], list[Stats]] = defaultdict(list)
        keys = list(ports)
        for round_ in range(args.rounds):
            order = keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
            for clients in levels:
                for key in order:
                    pid = pids[key]
                    cpu_before = cpu_seconds(pid)
                    rate, stats = asyncio.run(drive(ports[key], clients, args.seconds))
                    requests = sum(map(len, stats.latencies.values()))
                    cpu[key, clients].append((cpu_seconds(pid) - cpu_before) / max(requests, 1))
                    rates[key, clients].append(rate)
                    runs[key, clients].append(stats)
            print(
                f"round {round_ + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        print()
        for clients in levels:
            for key in keys:
                stats = merge(runs[key, clients])
                report(key, clients, rates[key, clients], stats, cpu[key, clients])
        print(f"load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        print("ratios of median req/s, then of server CPU per request (theirs / reference's):")
        for backend in backends:
            for clients in levels:
                mine = rates.get((f"reference {backend}", clients))
                if not mine:
                    continue
                parts = [
                    f"{statistics.median(mine) / statistics.median(theirs):.2f}x {peer}"
                    for peer in names
                    if peer != "reference" and (theirs := rates.get((f"{peer} {backend}", clients)))
                ]
                parts += [
                    f"{statistics.median(theirs) / statistics.median(mine_cpu):.2f}x {peer}'s"
                    for peer in names
                    if peer != "reference"
                    and (theirs := cpu.get((f"{peer} {backend}", clients)))
                    and (mine_cpu := cpu[f"reference {backend}", clients])
                ]
                print(f"  reference {backend} at {clients}: {', '.join(parts)}")
    return 0


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    sys.exit(main())
