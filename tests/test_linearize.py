"""The linearizability checker on hand-made histories: linearizable ones, ones that are not, and
overlapping operations that must be allowed to take effect in either order."""

from __future__ import annotations

from typing import Any

import pytest

from conformance._history import GONE, Operation, timeline
from conformance._linearize import (
    INCONCLUSIVE,
    LINEARIZABLE,
    VIOLATION,
    Budget,
    check,
    explained,
    shrink,
)


def op(client: int, kind: str, t0: float, t1: float, **kw: Any) -> Operation:
    return Operation(client, kind, t0, t1, **kw)


def create(client: int, t0: float, t1: float, book: int, value: str) -> Operation:
    return op(client, "create", t0, t1, book=book, arg=value, result=value)


def put(client: int, t0: float, t1: float, book: int, value: str, answer: str = "") -> Operation:
    return op(client, "put", t0, t1, book=book, arg=value, result=answer or value)


def read(client: int, t0: float, t1: float, book: int, result: str) -> Operation:
    return op(client, "read", t0, t1, book=book, result=result)


def delete(client: int, t0: float, t1: float, book: int, ok: bool = True) -> Operation:
    return op(client, "delete", t0, t1, book=book, result="204" if ok else GONE)


def listing(client: int, t0: float, t1: float, *seen: tuple[int, str]) -> Operation:
    return op(client, "list", t0, t1, seen=seen)


def verdict(*ops: Operation) -> str:
    return check(list(ops)).verdict


def test_sequential_writes_and_reads_are_linearizable() -> None:
    assert (
        verdict(
            create(0, 0, 1, 1, "A"),
            put(0, 2, 3, 1, "B"),
            read(0, 4, 5, 1, "B"),
            delete(0, 6, 7, 1),
            read(0, 8, 9, 1, GONE),
            listing(0, 10, 11),
        )
        == LINEARIZABLE
    )


def test_a_stale_read_after_a_completed_put_is_not() -> None:
    assert (
        verdict(create(0, 0, 1, 1, "A"), put(0, 2, 3, 1, "B"), read(1, 4, 5, 1, "A")) == VIOLATION
    )


@pytest.mark.parametrize("seen", ["A", "B"])
def test_a_read_overlapping_a_put_may_see_either_value(seen: str) -> None:
    assert (
        verdict(create(0, 0, 1, 1, "A"), put(0, 2, 6, 1, "B"), read(1, 3, 5, 1, seen))
        == LINEARIZABLE
    )


@pytest.mark.parametrize("last", ["B", "C"])
def test_overlapping_puts_may_take_effect_in_either_order(last: str) -> None:
    ops = [
        create(0, 0, 1, 1, "A"),
        put(1, 2, 6, 1, "B"),
        put(2, 3, 7, 1, "C"),
        read(0, 8, 9, 1, last),
    ]
    assert verdict(*ops) == LINEARIZABLE
    assert verdict(*ops[:-1], read(0, 8, 9, 1, "A")) == VIOLATION


def test_reads_pin_the_order_of_overlapping_puts() -> None:
    # both reads follow both PUTs: they must agree on which PUT went last
    ops = [create(0, 0, 1, 1, "A"), put(1, 2, 6, 1, "B"), put(2, 3, 7, 1, "C")]
    assert verdict(*ops, read(0, 8, 9, 1, "B"), read(0, 10, 11, 1, "C")) == VIOLATION
    # overlapping both PUTs, one read may see B after another saw C only in one order
    assert verdict(*ops, read(3, 4, 5, 1, "C"), read(4, 5.5, 8, 1, "B")) == LINEARIZABLE


def test_an_id_handed_out_twice_is_not_linearizable() -> None:
    assert verdict(create(0, 0, 2, 5, "A"), create(1, 1, 3, 5, "B")) == VIOLATION


def test_an_id_reused_after_its_delete_is_not_linearizable() -> None:
    assert (
        verdict(create(0, 0, 1, 5, "A"), delete(0, 2, 3, 5), create(0, 4, 5, 5, "B")) == VIOLATION
    )


def test_a_put_racing_a_delete_must_not_resurrect_the_book() -> None:
    ops = [create(0, 0, 1, 1, "A"), put(1, 2, 5, 1, "B"), delete(2, 3, 4, 1)]
    assert verdict(*ops, read(0, 6, 7, 1, GONE)) == LINEARIZABLE
    assert verdict(*ops, read(0, 6, 7, 1, "B")) == VIOLATION
    # a PUT that lost the race to the DELETE answers 404: also fine
    assert verdict(ops[0], op(1, "put", 2, 5, book=1, result=GONE), ops[2]) == LINEARIZABLE


def test_a_put_answered_with_another_writers_body_is_not_linearizable() -> None:
    ops = [create(0, 0, 1, 1, "A"), put(1, 2, 6, 1, "B", answer="C"), put(2, 3, 7, 1, "C")]
    assert verdict(*ops) == VIOLATION


def test_a_read_overlapping_the_create_may_get_404() -> None:
    assert verdict(create(0, 0, 4, 1, "A"), read(1, 1, 2, 1, GONE)) == LINEARIZABLE
    assert verdict(create(0, 0, 1, 1, "A"), read(1, 2, 3, 1, GONE)) == VIOLATION


def test_a_list_must_not_lag_a_completed_create() -> None:
    ops = [create(0, 0, 1, 1, "A"), create(0, 2, 3, 2, "B")]
    assert verdict(*ops, listing(1, 4, 5, (1, "A"))) == VIOLATION
    assert verdict(*ops, listing(1, 2.5, 3.5, (1, "A"))) == LINEARIZABLE
    assert verdict(*ops, listing(1, 4, 5, (1, "A"), (2, "B"))) == LINEARIZABLE


def test_a_list_must_be_one_instant_of_the_whole_store() -> None:
    # PUT 1 completes before PUT 2 starts; a list overlapping both cannot show PUT 2 only.
    ops = [
        create(0, 0, 1, 1, "A1"),
        create(0, 2, 3, 2, "A2"),
        put(1, 10, 12, 1, "B1"),
        put(2, 13, 14, 2, "B2"),
    ]
    torn = listing(3, 9, 20, (1, "A1"), (2, "B2"))
    result = check([*ops, torn])
    assert result.verdict == VIOLATION
    assert "not together" in result.note  # each book alone passes
    assert verdict(*ops, listing(3, 9, 20, (1, "B1"), (2, "A2"))) == LINEARIZABLE


def test_past_the_budget_the_verdict_is_inconclusive() -> None:
    puts = [put(i, 2, 10, 1, f"v{i}") for i in range(1, 12)]
    ops = [create(0, 0, 1, 1, "A"), *puts, read(0, 11, 12, 1, "nobody wrote this")]
    assert check(ops, Budget(nodes=50, seconds=5)).verdict == INCONCLUSIVE
    assert check(ops).verdict == VIOLATION  # with the default budget it is decided


def test_shrink_keeps_a_small_explained_violation() -> None:
    noise = [
        read(9, 1.5, 1.8, 1, "A"),
        create(7, 0, 1, 2, "X"),
        put(7, 2, 3, 2, "Y"),
        read(8, 4, 5, 2, "Y"),
        listing(6, 4.2, 4.8, (1, "B"), (2, "Y")),
    ]
    core = [create(0, 0, 1, 1, "A"), put(0, 2, 3, 1, "B"), read(1, 4, 5, 1, "A")]
    result = check([*noise, *core])
    assert result.verdict == VIOLATION
    small = shrink(result.ops)
    assert check(list(small)).verdict == VIOLATION
    assert explained(small)
    assert sorted(small, key=lambda o: o.invoked) == sorted(core, key=lambda o: o.invoked)


def test_dropping_a_write_never_makes_up_a_violation() -> None:
    # without the PUT, the read of B would be unexplained: such a sub-history is not allowed
    assert not explained([create(0, 0, 1, 1, "A"), read(1, 4, 5, 1, "B")])
    assert not explained([create(0, 0, 1, 1, "A"), read(1, 4, 5, 1, GONE)])


def test_timeline_draws_one_line_per_client() -> None:
    text = timeline([create(0, 0, 1, 1, "A"), put(1, 2, 6, 1, "B"), read(2, 3, 5, 1, "A")])
    lines = text.splitlines()
    assert [line.split("|")[0].strip() for line in lines[1:4]] == [
        "client  0",
        "client  1",
        "client  2",
    ]
    assert "PUT /books/1 B -> 200 B" in text
