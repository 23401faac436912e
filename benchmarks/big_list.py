"""GET /books on a large table: time, server memory, and how long a concurrent GET /books/1 waits.

``python benchmarks/big_list.py [--rows 200000] [--targets reference,fastapi]`` starts each target
(see ``benchmarks/load.py``) on a fresh SQLite file and on a fresh database of a throwaway
Postgres, fills ``books`` with ``--rows`` rows directly, then ``--repeat`` times: GET /books
(wall time, bytes) while another connection loops GET /books/1 (how many, their median and
longest wait). The server's RSS is read before the first list and its peak (VmHWM) at the end.
127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.load import free_port, request, start, stop, wait_ready

ROW = ("Dune", "Frank Herbert", 1965, "978-0441013593")


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def fill_sqlite(path: str, rows: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executemany(
            "INSERT INTO books (title, author, year, isbn) VALUES (?, ?, ?, ?)",
            ((f"{ROW[0]} {n}", *ROW[1:]) for n in range(rows)),
        )
        db.commit()


async def fill_postgres(url: str, rows: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.copy_records_to_table(
            "books",
            records=[(f"{ROW[0]} {n}", *ROW[1:]) for n in range(rows)],
            columns=["title", "author", "year", "isbn"],
        )
    finally:
        await connection.close()


async def measure(port: int) -> tuple[float, int, list[float]]:
    """One GET /books; GET /books/1 in a loop on another connection meanwhile."""
    list_conn = await asyncio.open_connection("127.0.0.1", port)
    one_conn = await asyncio.open_connection("127.0.0.1", port)
    waits: list[float] = []
    done = asyncio.Event()

    async def single() -> None:
        while not done.is_set():
            started = time.perf_counter()
            status, _ = await request(*one_conn, "GET", "/books/1")
            waits.append(time.perf_counter() - started)
            assert status == 200, status

    poller = asyncio.create_task(single())
    await asyncio.sleep(0.05)  # the poller is running
    started = time.perf_counter()
    status, body = await request(*list_conn, "GET", "/books")
    elapsed = time.perf_counter() - started
    done.set()
    await poller
    assert status == 200, status
    for _, writer in (list_conn, one_conn):
        writer.close()
    return elapsed, len(body), waits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--targets", default="reference,fastapi")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    from tools.pgtemp import PostgresServer

    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        backends = args.backends.split(",")
        pg = stack.enter_context(PostgresServer()) if "postgres" in backends else None
        for backend in backends:
            for name in args.targets.split(","):
                if backend == "sqlite":
                    path = f"{directory}/{name}.db"
                    url = f"sqlite+aiosqlite:///{path}"
                else:
                    assert pg is not None
                    url = pg.create_database(f"big_{name.replace('-', '_')}")
                port = free_port()
                process = start(name, backend, url, port, directory / f"{name}-{backend}.log")
                try:
                    wait_ready(port, process)
                    if backend == "sqlite":
                        fill_sqlite(path, args.rows)
                    else:
                        asyncio.run(fill_postgres(url, args.rows))
                    rss = memory_kib(process.pid, "VmRSS")
                    runs = [asyncio.run(measure(port)) for _ in range(args.repeat)]
                    peak = memory_kib(process.pid, "VmHWM")
                finally:
                    stop(process)
                times = [t for t, _, _ in runs]
                spread = "/".join(f"{t:.2f}" for t in times)
                waits = [w for _, _, ws in runs for w in ws]
                longest = [max(ws) for _, _, ws in runs]
                print(
                    f"{name} {backend}: GET /books of {args.rows} rows ({runs[0][1] / 1e6:.1f} MB)"
                    f" median {statistics.median(times):.2f} s ({spread});"
                    f" RSS {rss / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB;"
                    f" concurrent GET /books/1: {len(waits)} answered,"
                    f" median {statistics.median(waits) * 1000:.0f} ms,"
                    f" longest {'/'.join(f'{w * 1000:.0f}' for w in longest)} ms",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
