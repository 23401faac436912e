"""Unit tests of conformance.strategies (no server): generated bodies obey or break the contract
exactly as their names say. The contract checks here are written independently of the
strategies, straight from the rules in conformance/contract/requirements.toml."""

from __future__ import annotations

import json
import re
import unicodedata
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance._profiles import hypothesis_settings
from conformance.strategies import (
    INT32_MAX,
    INT32_MIN,
    INVALID_KINDS,
    KNOWN_MEMBERS,
    LOOKALIKE_NAMES,
    MAX_ID,
    InvalidBody,
    bad_path_ids,
    bad_write_ids,
    bodies_with_unknown_members,
    contract_text,
    invalid_bodies,
    looks_like_a_valid_id,
    valid_bodies,
)

EXAMPLES = 80


# -- the contract, re-stated ---------------------------------------------------------------------


def has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def text_problem(value: Any, limit: int) -> str | None:
    """Why ``value`` is not a string of 1..limit code points without U+0000 (None if it is)."""
    if type(value) is not str:
        return f"not a string: {value!r}"
    if not 1 <= len(value) <= limit:
        return f"{len(value)} code points"
    if "\x00" in value:
        return "contains U+0000"
    return None


def member_problems(doc: dict[str, Any]) -> dict[str, str]:
    """member -> what is wrong with it, for a decoded JSON object (lone surrogates included)."""
    problems: dict[str, str] = {}
    for member, limit in (("title", 500), ("author", 500), ("isbn", 32)):
        if member == "isbn" and doc.get("isbn") is None:
            continue
        if member not in doc:
            problems[member] = "missing"
        elif isinstance(doc[member], str) and has_surrogate(doc[member]):
            problems[member] = "lone surrogate"
        elif (why := text_problem(doc[member], limit)) is not None:
            problems[member] = why
    year = doc.get("year")
    if "year" not in doc:
        problems["year"] = "missing"
    elif type(year) is not int:
        problems["year"] = f"not an integer: {year!r}"
    elif not INT32_MIN <= year <= INT32_MAX:
        problems["year"] = f"{year} out of int32"
    return problems


RULE_OF_MEMBER = {"title": "VAL-TEXT", "author": "VAL-TEXT", "year": "VAL-YEAR", "isbn": "VAL-ISBN"}


def reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def checked_float(literal: str) -> Decimal:
    """JSON numbers with a fraction or exponent: never an integral value like 1999.0 (a MAY)."""
    value = Decimal(literal)
    assert value != value.to_integral_value(), f"generated the integral number {literal}"
    return value


def decode(raw: bytes) -> Any:
    """Strict UTF-8 and strict RFC 8259 JSON (no NaN/Infinity); raises ValueError otherwise."""
    return json.loads(
        raw.decode("utf-8"), parse_constant=reject_constant, parse_float=checked_float
    )


def broken_rules(raw: bytes) -> list[tuple[str, str]]:
    """(requirement, what) for every way ``raw`` breaks the contract for a request body."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        # The rest must be fine: with each run of bad bytes replaced by one character, it is a
        # valid body.
        escaped = raw.decode("utf-8", errors="surrogateescape")
        repaired = json.loads(re.sub("[\udc80-\udcff]+", "\ufffd", escaped))
        assert isinstance(repaired, dict) and not member_problems(repaired), repaired
        return [("INVALID-4XX", "invalid UTF-8")]
    try:
        doc = decode(raw)
    except ValueError:
        return [("INVALID-4XX", "malformed JSON")]
    if not isinstance(doc, dict):
        return [("INVALID-4XX", "not an object")]
    return [
        ("INVALID-4XX" if why == "lone surrogate" else RULE_OF_MEMBER[member], f"{member}: {why}")
        for member, why in member_problems(doc).items()
    ]


# -- valid bodies --------------------------------------------------------------------------------


@hypothesis_settings(EXAMPLES)
@given(valid_bodies())
def test_valid_bodies_obey_the_contract(body: dict[str, Any]) -> None:
    assert set(body) <= set(KNOWN_MEMBERS)
    assert member_problems(body) == {}, body
    for member in ("title", "author", "isbn"):
        if isinstance(body.get(member), str):
            assert not has_surrogate(body[member])
    assert type(body["year"]) is int  # never a bool
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert broken_rules(raw) == []


@pytest.mark.parametrize("isbn", ["present", "absent", "null"])
def test_valid_bodies_isbn_modes(isbn: str) -> None:
    @hypothesis_settings(20)
    @given(valid_bodies(isbn=isbn))  # type: ignore[arg-type]
    def check(body: dict[str, Any]) -> None:
        assert ("isbn" in body) == (isbn != "absent")
        if isbn == "present":
            assert text_problem(body["isbn"], 32) is None
        if isbn == "null":
            assert body["isbn"] is None

    check()


@hypothesis_settings(EXAMPLES)
@given(contract_text(7, min_size=3))
def test_contract_text_respects_its_bounds(text: str) -> None:
    assert 3 <= len(text) <= 7 and "\x00" not in text and not has_surrogate(text)


def test_contract_text_rejects_impossible_bounds() -> None:
    with pytest.raises(ValueError, match="min_size"):
        contract_text(3, min_size=4)


FEATURES = {
    "edge whitespace (ASCII)": lambda s: s[:1] in " \t\n\r" or s[-1:] in " \t\n\r",
    "edge whitespace (non-ASCII)": lambda s: any(
        c.isspace() and ord(c) > 127 for c in s[:1] + s[-1:]
    ),
    "whitespace only": lambda s: s.strip() == "",
    "changed by NFC": lambda s: unicodedata.normalize("NFC", s) != s,
    "changed by NFKC only": lambda s: (
        unicodedata.normalize("NFC", s) != unicodedata.normalize("NFKC", s)
    ),
    "changed by lower()": lambda s: s.lower() != s,
    "cased non-Latin letters": lambda s: any("\u0370" <= c <= "\u052f" for c in s),
    "half-width katakana": lambda s: any("\uff61" <= c <= "\uff9f" for c in s),
    "C0/C1 controls": lambda s: any(
        unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in s
    ),
    "lone CR": lambda s: "\r" in s.replace("\r\n", ""),
    "astral": lambda s: any(ord(c) > 0xFFFF for c in s),
    "combining marks": lambda s: any(unicodedata.category(c) == "Mn" for c in s),
    "right-to-left": lambda s: any(unicodedata.bidirectional(c) in ("R", "AL") for c in s),
    "quotes and SQL": lambda s: "'" in s or '"' in s or ";" in s,
    "500 code points": lambda s: len(s) == 500,
}


def test_valid_bodies_explore_the_traps() -> None:
    """With the default profile's budget (40 examples), every trap shows up."""
    seen: dict[str, int] = dict.fromkeys([*FEATURES, "isbn absent", "isbn null", "isbn 32",
                                          "int32 edge"], 0)  # fmt: skip

    @hypothesis_settings(40)
    @given(valid_bodies())
    def collect(body: dict[str, Any]) -> None:
        texts = [v for k, v in body.items() if k != "year" and isinstance(v, str)]
        for name, has in FEATURES.items():
            seen[name] += any(has(text) for text in texts)
        seen["isbn absent"] += "isbn" not in body
        seen["isbn null"] += "isbn" in body and body["isbn"] is None
        seen["isbn 32"] += len(body.get("isbn") or "") == 32
        seen["int32 edge"] += body["year"] in (INT32_MIN, INT32_MAX)

    collect()
    missing = [name for name, count in seen.items() if count == 0]
    assert not missing, f"40 valid bodies never had: {missing} ({seen})"


# -- invalid bodies ------------------------------------------------------------------------------


def check_invalid(case: InvalidBody) -> None:
    assert isinstance(case, tuple) and len(case) == 3
    rule, description, raw = case
    assert isinstance(raw, bytes) and description
    broken = broken_rules(raw)
    assert len(broken) == 1, f"{description}: breaks {broken}, want exactly one rule: {raw!r}"
    assert broken[0][0] == rule, f"{description}: breaks {broken[0]}, labelled {rule}: {raw!r}"


@hypothesis_settings(EXAMPLES)
@given(invalid_bodies())
def test_invalid_bodies_break_exactly_their_rule(case: InvalidBody) -> None:
    check_invalid(case)


@pytest.mark.parametrize("kind", INVALID_KINDS)
def test_every_invalid_kind_breaks_exactly_its_rule(kind: str) -> None:
    @hypothesis_settings(10)
    @given(invalid_bodies([kind]))
    def check(case: InvalidBody) -> None:
        check_invalid(case)
        assert case.requirement == INVALID_KINDS[kind]
        member = kind.split("-")[0]
        if member in RULE_OF_MEMBER:
            assert case.requirement == RULE_OF_MEMBER[member]
            assert case.description.startswith(member)
        else:
            assert case.requirement == "INVALID-4XX"

    check()


def test_invalid_bodies_carry_the_marker() -> None:
    """Member-level cases always carry the marker (so a stored row can be found)."""

    @hypothesis_settings(60)
    @given(invalid_bodies(marker="probe-123"))
    def check(case: InvalidBody) -> None:
        if case.requirement != "INVALID-4XX":
            doc = decode(case.raw)
            assert "probe-123" in (doc.get("title"), doc.get("author")), doc

    check()


def test_invalid_bodies_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown invalid-body kinds"):
        invalid_bodies(["year-is-fine"])


def test_invalid_kinds_cover_the_contract() -> None:
    wanted = {"title-missing", "author-wrong-type", "title-too-long", "author-nul", "title-empty",
              "year-boolean", "year-numeric-string", "year-fraction", "year-above-int32",
              "year-below-int32", "isbn-too-long", "not-an-object", "malformed-json",
              "empty-body", "invalid-utf8", "lone-surrogate"}  # fmt: skip
    assert wanted <= set(INVALID_KINDS)
    assert not any("unknown" in kind for kind in INVALID_KINDS)  # unknown members are valid


# -- unknown members -----------------------------------------------------------------------------


@hypothesis_settings(EXAMPLES)
@given(bodies_with_unknown_members())
def test_unknown_members_come_with_a_valid_body(body: dict[str, Any]) -> None:
    known = {k: v for k, v in body.items() if k in KNOWN_MEMBERS}
    unknown = set(body) - set(KNOWN_MEMBERS)
    assert unknown, body
    assert member_problems(known) == {}
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    decode(raw)  # well-formed, no integral floats
    for name in unknown:
        member, value = LOOKALIKE_NAMES.get(name), body[name]
        if member == "year":
            assert type(value) is int and INT32_MIN <= value <= INT32_MAX, (name, value)
        elif member is not None:  # valid for the member it looks like
            assert text_problem(value, 32 if member == "isbn" else 500) is None, (name, value)
    if "id" in body:
        cid = body["id"]
        assert not isinstance(cid, bool)
        if isinstance(cid, int):
            assert cid <= 0 or cid >= 2**62, cid
        if isinstance(cid, float):
            assert cid < 0
        if isinstance(cid, str):
            assert not looks_like_a_valid_id(cid)


# -- path ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "valid"),
    [("7", True), (" 7", True), ("07", True), ("7.0", True), ("7e0", True), ("\u0667", True),
     ("1_000", True), (str(MAX_ID), True), ("0", False), ("-7", False), ("7.5", False),
     (str(MAX_ID + 1), False), ("abc", False), ("nan", False), ("inf", False), ("", False),
     ("1e400", False)],
)  # fmt: skip
def test_looks_like_a_valid_id(text: str, valid: bool) -> None:
    assert looks_like_a_valid_id(text) is valid


@hypothesis_settings(EXAMPLES)
@given(bad_path_ids())
def test_bad_path_ids_are_never_valid_ids(segment: str) -> None:
    assert "/" not in segment and "?" not in segment and "#" not in segment
    text = unquote(segment)
    assert text and text.strip(".") != ""
    assert not looks_like_a_valid_id(text)
    assert "/" not in text and "\\" not in text


def interpretations(text: str) -> set[int]:
    """Ids a sloppy server might read ``text`` as."""
    found: set[int] = set()
    prefix = re.match(r"[+-]?\d+", text)
    if prefix:
        found.add(int(prefix.group()))
    digits = re.sub(r"\D", "", text, flags=re.ASCII)
    if digits:
        found.add(int(digits))
        found |= {int(digits) % 2**bits for bits in (64, 63, 32)}
        found.add((int(digits) + 2**63) % 2**64 - 2**63)  # signed 64-bit wrap
    return found


@given(owned=st.integers(1, 10**9), data=st.data())
@hypothesis_settings(EXAMPLES)
def test_bad_write_ids_can_only_reach_the_owned_book(owned: int, data: st.DataObject) -> None:
    segment = data.draw(bad_write_ids(owned))
    text = unquote(segment)
    assert not looks_like_a_valid_id(text)
    reachable = {i for i in interpretations(text) if 1 <= i <= MAX_ID}
    assert reachable <= {owned}, f"{text!r} could reach books {reachable - {owned}}"
