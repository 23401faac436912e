"""Benchmark: how fast the linearizability checker decides histories of 100, 1,000 and 5,000
operations.

Usage: ``python benchmarks/linearize.py [--seconds 3] [--clients 32]``

Each history is synthetic and linearizable: ``--clients`` clients (seeded) send the mixed
workload's kinds of request (create, read, PUT, DELETE, list) on a handful of books, each request
taking effect at a random instant inside its own random interval against a sequential store, so
the requests of a burst overlap the way a 32-wide burst does. Prints per size: histories checked
within ``--seconds``, histories/s, operations/s and the states the search visited per history;
then the same for a history made non-linearizable (one stale read), with its shrink time.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance._history import GONE, Operation
from conformance._linearize import VIOLATION, check, shrink


def history(size: int, clients: int, seed: int) -> list[Operation]:
    """A linearizable history of ``size`` operations in bursts of ``clients``."""
    rng = random.Random(seed)
    store: dict[int, str] = {}
    next_id, ops, clock = 1, [], 0.0
    live: list[int] = []
    while len(ops) < size:
        burst = []
        for client in range(min(clients, size - len(ops))):
            start = clock + rng.uniform(0, 2)
            end = start + rng.uniform(0.5, 6)
            burst.append((rng.uniform(start, end), start, end, client))
        for point, start, end, client in sorted(burst):
            del point
            roll = rng.random()
            if roll < 0.15 or not live:
                value = f"v{len(ops)}"
                store[next_id] = value
                live.append(next_id)
                ops.append(Operation(client, "create", start, end, book=next_id, arg=value,
                                     result=value))  # fmt: skip
                next_id += 1
            elif roll < 0.25:
                seen = tuple(sorted(store.items()))
                ops.append(Operation(client, "list", start, end, seen=seen))
            else:
                book = rng.choice(live[-8:])
                if roll < 0.55:
                    ops.append(Operation(client, "read", start, end, book=book,
                                         result=store.get(book, GONE)))  # fmt: skip
                elif roll < 0.9:
                    value = f"v{len(ops)}"
                    if book in store:
                        store[book] = value
                        ops.append(Operation(client, "put", start, end, book=book, arg=value,
                                             result=value))  # fmt: skip
                    else:
                        ops.append(Operation(client, "put", start, end, book=book, result=GONE))
                else:
                    existed = store.pop(book, None) is not None
                    ops.append(Operation(client, "delete", start, end, book=book,
                                         result="204" if existed else GONE))  # fmt: skip
        clock += 8
    return ops


def broken(ops: list[Operation]) -> list[Operation]:
    """The history with a stale read added after its last PUT completed."""
    put = max((op for op in ops if op.kind == "put" and op.arg), key=lambda op: op.completed)
    before = next(op.arg for op in ops if op.kind == "create" and op.book == put.book)
    end = max(op.completed for op in ops)
    return [*ops, Operation(99, "read", end + 1, end + 2, book=put.book, result=before)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per size")
    parser.add_argument("--clients", type=int, default=32, help="requests per burst")
    args = parser.parse_args()
    print("size    histories  histories/s  operations/s  states/history  verdicts")
    for size in (100, 1_000, 5_000):
        done, states, started, seed = 0, 0, time.perf_counter(), 0
        verdicts: Counter[str] = Counter()
        while time.perf_counter() - started < args.seconds or not done:
            result = check(history(size, args.clients, seed))
            assert result.verdict != VIOLATION, (size, seed, result.note)  # never a false fail
            verdicts[result.verdict] += 1
            done, states, seed = done + 1, states + result.nodes, seed + 1
        spent = time.perf_counter() - started
        print(f"{size:>5}  {done:>10}  {done / spent:>11.2f}  {done * size / spent:>12.0f}  "
              f"{states / done:>14.0f}  {dict(verdicts)}")  # fmt: skip
    for size in (100, 1_000, 5_000):
        ops = broken(history(size, args.clients, 7))
        started = time.perf_counter()
        result = check(ops)
        checked = time.perf_counter() - started
        if result.verdict != VIOLATION:
            print(f"{size:>5}  {result.verdict} after {checked:.3f} s: {result.note}")
            continue
        started = time.perf_counter()
        small = shrink(result.ops)
        print(f"{size:>5}  violation found in {checked:.3f} s, shrunk to {len(small)} operations "
              f"in {time.perf_counter() - started:.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
