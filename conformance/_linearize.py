"""Is a concurrent history of the Books API linearizable? A Wing-Gong / Lowe search.

The sequential model is the contract's store: a map from id to book. A create takes an id never
handed out before and stores its body there; a read answers the book or 404; a PUT replaces a
stored book and answers the new one, or 404; a DELETE removes a stored book (204) or answers 404;
the list answers every stored book in id order (checked on the ids the history created: other
rows may exist on a shared target). A history is linearizable when some order of its operations,
each placed between its invocation and its completion, explains every answer.

The search (Lowe's refinement of Wing & Gong) places operations one at a time: an operation may
go next when no pending operation completed before it was invoked. Visited (placed set, state)
pairs are remembered and not searched again. Two reductions keep it small:

- Read-only operations (reads, 404s, lists) are placed as soon as they are allowed and legal:
  that never loses a linearization (they change no state, and placing one earlier only lifts
  real-time constraints), so only writes branch.
- P-compositionality (Horn & Kroening): the model is a product of one model per id, so the
  history is first checked per book (lists projected onto that book), which is exact for
  single-book operations and finds most violations in a few dozen operations; the list, which
  spans every book, is then checked against the whole store.

The search is bounded (:class:`Budget`): past it the answer is ``INCONCLUSIVE``, never a pass
and never a fail. A violation is shrunk (:func:`shrink`) to a small sub-history that still has
no linearization and whose every observed value is still written by one of its operations.

Example::

    result = check(ops)           # ops from conformance._history.operations
    if result.verdict == VIOLATION:
        print(timeline(shrink(result.ops)))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from conformance._history import GONE, UNBORN, Operation, is_value

LINEARIZABLE = "linearizable"
VIOLATION = "not linearizable"
INCONCLUSIVE = "inconclusive"

# compiled operation codes; the read-only ones are placed greedily
CREATE, READ, PUT, PUT_404, DELETE, DELETE_404, LIST = range(7)
READ_ONLY = frozenset({READ, PUT_404, DELETE_404, LIST})
UNOBSERVED = "<unobserved>"  # the value of a write no operation observes


@dataclass(frozen=True)
class Budget:
    """How much search one verdict may cost: visited states and seconds (both per ``check``).

    Example: ``check(ops, Budget(nodes=10_000, seconds=1.0))``.
    """

    nodes: int = 200_000
    seconds: float = 5.0


@dataclass(frozen=True)
class Result:
    """A verdict, the (sub-)history it is about (for a violation: the part with no
    linearization), how many states were visited, and a sentence on how it was reached."""

    verdict: str
    ops: tuple[Operation, ...]
    nodes: int
    note: str


class _Exhausted(Exception):
    """The budget ran out."""


@dataclass
class _Meter:
    budget: Budget
    deadline: float
    nodes: int = 0

    def tick(self) -> None:
        self.nodes += 1
        if self.nodes > self.budget.nodes or (
            not self.nodes % 512 and time.monotonic() > self.deadline
        ):
            raise _Exhausted


Compiled = tuple[int, int, str | None, str | None, tuple[str | None, ...] | None]


def _compile(ops: Sequence[Operation]) -> tuple[list[Compiled], int]:
    """Operations as (code, slot, arg, result, list expectation per slot), ids as slots."""
    ids = sorted({op.book for op in ops if op.book is not None})
    slot = {book_id: index for index, book_id in enumerate(ids)}
    scope = {op.book for op in ops if op.kind == "create"}
    observed = {(op.book, op.result) for op in ops if op.kind == "read"}
    observed |= {pair for op in ops if op.kind == "list" for pair in op.seen}

    def kept(book: int, value: str | None) -> str | None:
        # a value nobody observes is as good as any other: one token merges their states
        return value if (book, value) in observed else UNOBSERVED

    out: list[Compiled] = []
    for op in ops:
        if op.kind == "list":
            seen = dict(op.seen)
            want = tuple(seen.get(i) if i in scope else "*" for i in ids)
            out.append((LIST, -1, None, None, want))
            continue
        assert op.book is not None
        s = slot[op.book]
        if op.kind == "create":
            out.append((CREATE, s, kept(op.book, op.arg), None, None))
        elif op.kind == "read":
            out.append((READ, s, None, op.result, None))
        elif op.kind == "put" and op.result == GONE:
            out.append((PUT_404, s, None, op.result, None))
        elif op.kind == "put":  # answered with its own book, or never legal
            out.append((PUT, s, kept(op.book, op.arg), "ok" if op.result == op.arg else "", None))
        else:
            out.append((DELETE_404 if op.result == GONE else DELETE, s, None, op.result, None))
    return out, len(ids)


def _legal_read(state: tuple[str, ...], op: Compiled) -> bool:
    code, s, _, result, want = op
    if code == LIST:
        assert want is not None
        return all(
            w == "*" or (st == w if w is not None else not is_value(st))
            for st, w in zip(state, want, strict=True)
        )
    if code == READ and result != GONE:
        return state[s] == result
    return not is_value(state[s])


def _unmet(state: tuple[str, ...], op: Compiled) -> list[tuple[int, str]]:
    """What a read-only op needs that ``state`` lacks: (slot, value or GONE for absent)."""
    code, s, _, result, want = op
    if code == LIST:
        assert want is not None
        return [
            (slot, w if w is not None else GONE)
            for slot, (st, w) in enumerate(zip(state, want, strict=True))
            if w != "*" and (st != w if w is not None else is_value(st))
        ]
    if code == READ and result != GONE:
        return [] if state[s] == result else [(s, str(result))]
    return [(s, GONE)] if is_value(state[s]) else []


def _apply(state: tuple[str, ...], op: Compiled) -> tuple[str, ...] | None:
    """The state after the write ``op``, or None when it is not legal in ``state``."""
    code, s, arg, result, _ = op
    current = state[s]
    if code == CREATE:
        ok = current == UNBORN
    elif code == PUT:
        ok = is_value(current) and result == "ok"
    else:  # DELETE
        ok = is_value(current)
        arg = GONE
    if not ok:
        return None
    assert arg is not None
    return state[:s] + (arg,) + state[s + 1 :]


def search(ops: Sequence[Operation], meter: _Meter) -> bool:
    """Does ``ops`` have a linearization? Raises :class:`_Exhausted` past the budget."""
    order = sorted(range(len(ops)), key=lambda i: (ops[i].invoked, ops[i].completed))
    ops = [ops[i] for i in order]
    compiled, slots = _compile(ops)
    n = len(ops)
    invoked = [op.invoked for op in ops]
    completed = [op.completed for op in ops]

    def settle(base: int, bits: int, state: tuple[str, ...]) -> tuple[int, int, list[int]]:
        """Place every allowed, legal read-only op; return the new placed set and the allowed
        writes (earliest completion first)."""
        while True:
            bound, allowed, i = float("inf"), [], base
            while i < n and invoked[i] <= bound:
                if not bits >> (i - base) & 1:
                    bound = min(bound, completed[i])
                    allowed.append(i)
                i += 1
            allowed = [i for i in allowed if invoked[i] <= bound]
            placed = [
                i
                for i in allowed
                if compiled[i][0] in READ_ONLY and _legal_read(state, compiled[i])
            ]
            if not placed:
                break
            for i in placed:
                bits |= 1 << (i - base)
            while bits & 1:
                bits >>= 1
                base += 1
        writes = [i for i in allowed if compiled[i][0] not in READ_ONLY]
        if hopeless(base, bits, state, allowed):
            return base, bits, []
        # writes nobody observes first: a later read then finds the value it saw last
        return (
            base,
            bits,
            sorted(writes, key=lambda i: (compiled[i][2] != UNOBSERVED, completed[i])),
        )

    def hopeless(base: int, bits: int, state: tuple[str, ...], allowed: list[int]) -> bool:
        """Is some allowed read-only op illegal now with no pending write, invoked before it
        completed, that could make it legal? Then no placement from here works."""
        waiting = [i for i in allowed if compiled[i][0] in READ_ONLY]
        if not waiting:
            return False
        horizon = max(completed[i] for i in waiting)
        producers: dict[tuple[int, str], float] = {}
        i = base
        while i < n and invoked[i] <= horizon:
            if not bits >> (i - base) & 1 and compiled[i][0] not in READ_ONLY:
                code, slot, arg, _, _ = compiled[i]
                made = (slot, GONE if code == DELETE else str(arg))
                producers[made] = min(producers.get(made, invoked[i]), invoked[i])
            i += 1
        for r in waiting:
            for slot, need in _unmet(state, compiled[r]):
                if producers.get((slot, need), float("inf")) > completed[r]:
                    return True
        return False

    start: tuple[str, ...] = (UNBORN,) * slots
    base, bits, writes = settle(0, 0, start)
    if base == n:
        return True
    visited = {(base, bits, start)}
    stack = [(base, bits, start, writes, 0)]
    while stack:
        base, bits, state, writes, k = stack[-1]
        if k >= len(writes):
            stack.pop()
            continue
        stack[-1] = (base, bits, state, writes, k + 1)
        i = writes[k]
        after = _apply(state, compiled[i])
        if after is None:
            continue
        nbase, nbits = base, bits | 1 << (i - base)
        while nbits & 1:
            nbits >>= 1
            nbase += 1
        nbase, nbits, nwrites = settle(nbase, nbits, after)
        if nbase == n:
            return True
        key = (nbase, nbits, after)
        if key in visited:
            continue
        visited.add(key)
        meter.tick()
        stack.append((nbase, nbits, after, nwrites, 0))
    return False


def partitions(ops: Sequence[Operation]) -> list[tuple[Operation, ...]]:
    """One sub-history per book: its own operations and every list (which the search projects
    onto the books the sub-history created)."""
    lists = [op for op in ops if op.kind == "list"]
    books = sorted({op.book for op in ops if op.book is not None})
    return [tuple(op for op in ops if op.book == b) + tuple(lists) for b in books]


def check(ops: Sequence[Operation], budget: Budget | None = None) -> Result:
    """The verdict on ``ops``: per book first, then (when lists span several books) the whole
    store. A violation carries the sub-history that showed it."""
    budget = budget or Budget()
    meter = _Meter(budget, time.monotonic() + budget.seconds)
    parts = partitions(ops)
    whole = len(parts) > 1 and any(op.kind == "list" for op in ops)
    try:
        for part in parts:
            if not search(part, meter):
                book = next(op.book for op in part if op.book is not None)
                return Result(
                    VIOLATION,
                    part,
                    meter.nodes,
                    f"book {book}'s operations and the lists have no linearization",
                )
        if whole and not search(ops, meter):
            return Result(
                VIOLATION,
                tuple(ops),
                meter.nodes,
                "every book alone is linearizable, but the lists are not together",
            )
    except _Exhausted:
        return Result(
            INCONCLUSIVE,
            tuple(ops),
            meter.nodes,
            f"gave up after {meter.nodes} states or {budget.seconds:g} s "
            f"({len(ops)} operations): neither passed nor failed",
        )
    return Result(
        LINEARIZABLE, tuple(ops), meter.nodes, f"{len(ops)} operations, {len(parts)} books"
    )


def explained(ops: Sequence[Operation]) -> bool:
    """Is every observation in ``ops`` still backed by its operations (so that dropping an
    operation never makes up a violation)? Every value seen was written by one of them, every
    id written to or deleted was created by one of them, and a book seen absent after its create
    completed has a DELETE that answered 204."""
    written: dict[int, set[str]] = {}
    created: dict[int, float] = {}
    deleted: set[int] = set()
    for op in ops:
        if op.kind == "create" and op.book is not None and op.arg is not None:
            written.setdefault(op.book, set()).add(op.arg)
            created[op.book] = min(created.get(op.book, op.completed), op.completed)
        elif op.kind == "put" and op.book is not None and op.arg is not None:
            written.setdefault(op.book, set()).add(op.arg)
        elif op.kind == "delete" and op.result != GONE and op.book is not None:
            deleted.add(op.book)

    def absent_ok(book: int | None, invoked: float) -> bool:
        return book not in created or created[book] >= invoked or book in deleted

    for op in ops:
        if op.kind == "list":
            listed = dict(op.seen)
            for book, value in listed.items():
                if book in created and value not in written.get(book, set()):
                    return False
            if not all(absent_ok(b, op.invoked) for b in created if b not in listed):
                return False
        elif op.kind in ("put", "delete") and op.result != GONE and op.book not in created:
            return False
        elif op.kind == "read" and op.result != GONE:
            if op.result not in written.get(op.book or 0, set()):
                return False
        elif op.kind != "create" and op.result == GONE and not absent_ok(op.book, op.invoked):
            return False
    return True


def shrink(ops: Sequence[Operation], budget: Budget | None = None) -> tuple[Operation, ...]:
    """A smaller sub-history of the non-linearizable ``ops`` that is still not linearizable:
    operations are dropped one at a time (whole clients first) while the violation persists and
    :func:`explained` holds. Bounded by ``budget.seconds`` in all."""
    budget = budget or Budget(nodes=20_000, seconds=3.0)
    deadline = time.monotonic() + budget.seconds
    current = list(ops)

    def still_fails(candidate: list[Operation]) -> bool:
        if not explained(candidate) or time.monotonic() > deadline:
            return False
        meter = _Meter(budget, deadline)
        try:
            parts = partitions(candidate)
            return any(not search(p, meter) for p in parts) or not search(candidate, meter)
        except _Exhausted:
            return False

    for client in sorted({op.client for op in current}):
        candidate = [op for op in current if op.client != client]
        if candidate and still_fails(candidate):
            current = candidate
    index = len(current) - 1
    while index >= 0:
        candidate = current[:index] + current[index + 1 :]
        if candidate and still_fails(candidate):
            current = candidate
        index -= 1
    return tuple(current)
