"""Hypothesis strategies derived from the Books API v1 contract.

Three families, all deterministic under :func:`conformance._profiles.hypothesis_settings`:

* :func:`valid_bodies` — request bodies the contract says MUST be accepted and stored exactly.
  Strings mix Hypothesis' full-Unicode ``st.text()`` with "trap" fragments a careless server
  mangles: edge whitespace (ASCII and Unicode), NFD sequences and NFC singletons, compatibility
  characters (ligatures, full/half-width forms, super-scripts), cased letters of several scripts,
  RTL and bidi controls, astral characters, quotes and SQL/template metacharacters, C0/C1 controls;
  plus whitespace-only strings and strings of exactly the maximum length.
* :func:`invalid_bodies` — ``InvalidBody(requirement, description, raw)``: raw request bytes that
  break exactly one rule in one way, tagged with the requirement a server that accepts them breaks.
* :func:`bodies_with_unknown_members` — valid bodies plus members the contract does not know. They
  are *not* invalid (a server may ignore or reject them), so they live apart from invalid bodies.
* :func:`bad_path_ids` (any non-id, for GET) and :func:`bad_write_ids` (non-ids derived from a
  book the kit owns, safe for PUT and DELETE on a shared target).

Strings meant to survive exactly never contain U+0000 or a lone surrogate. The factories are
cached (building a strategy is not free): calling one twice returns the same object.

Never generated: a JSON number with a zero fraction such as ``1999.0`` for ``year`` (a MAY in the
contract), a byte-order mark (RFC 8259 lets parsers ignore it), duplicate member names.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

from hypothesis import strategies as st

from conformance._bodies import DROP, ISBN_MAX, LIMITS, TEXT_MAX

__all__ = [
    "CONTRACT_CHARS",
    "INT32_MAX",
    "INT32_MIN",
    "INVALID_KINDS",
    "ISBN_MAX",
    "KNOWN_MEMBERS",
    "LOOKALIKE_NAMES",
    "MARKER",
    "MAX_ID",
    "TEXT_MAX",
    "InvalidBody",
    "bad_path_ids",
    "bad_write_ids",
    "bodies_with_unknown_members",
    "contract_text",
    "invalid_bodies",
    "looks_like_a_valid_id",
    "valid_bodies",
    "years",
]

#: The contract's numbers (from conformance/contract/, see :class:`conformance._registry.Limits`).
INT32_MIN, INT32_MAX = LIMITS.year_min, LIMITS.year_max
MAX_ID = LIMITS.id_max
KNOWN_MEMBERS = LIMITS.request_members
#: Put into a text member of every invalid body that has one, so a test can find rows that a
#: server stored although it rejected (or should have rejected) the body.
MARKER = "conformance-kit invalid-body probe"

#: Every code point the contract allows inside a string: all but surrogates and U+0000.
CONTRACT_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")

#: Characters servers like to strip: all of ``str.isspace()`` plus invisible format characters.
WHITESPACE: tuple[str, ...] = (
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680",
    "\u2000", "\u2002", "\u2003", "\u2007", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f",
    "\u205f", "\u3000", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e",
)  # fmt: skip

#: Short fragments, one tuple per way a server can mangle text.
TRAPS: dict[str, tuple[str, ...]] = {
    # Unicode normalisation: NFD sequences, Hangul jamo, NFC singletons, mark reordering.
    "nfd": ("e\u0301", "A\u030a", "o\u0308", "n\u0303", "\u0391\u0301", "a\u0328\u0301",
            "a\u0307\u0323", "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af",
            "\u212b", "\u2126", "\u212a", "\u0344", "\u1e9b\u0323", "\u0958", "\u304b\u3099"),
    # NFKC/NFKD: ligatures, full-width and half-width forms, super/subscripts, fractions, ...
    "compat": ("\ufb01", "\ufb00", "\ufb03", "\uff21\uff42\uff43", "\uff11\uff12",
               "\uff76\uff9e\uff7e\uff9d", "\uff8a\uff9f", "\u00b2", "\u2083", "\u00bd", "\u2160",
               "\u2467", "\u3372", "\u2122", "\u00aa", "\u0133", "\U0001d400", "\u1d43", "\u2024",
               "\u017f", "\u32d0", "\u2474"),
    # Case: letters a server might upper/lower/case-fold.
    "case": ("\u00c9COLE", "stra\u00dfe", "\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3",
             "\u03c3\u03c2", "\u01c5", "\u0130stanbul", "\u0131",
             "\u041f\u0420\u0418\u0412\u0415\u0422", "\u0436\u0443\u043a", "\u0531\u0532",
             "\u10a0", "\U00010400", "\u1e9e", "McDonald"),
    # Right-to-left text and bidi controls.
    "rtl": ("\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627", "\u202eabc\u202c",
            "\u200f", "\u061c", "\u2067x\u2069", "\u05d0\u05b8"),
    # Astral plane: emoji sequences, mathematical letters, CJK extension B, the last code point.
    "astral": ("\U0001f4da", "\U0001d518\U0001d52b", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
               "\U0001f3f3\ufe0f\u200d\U0001f308", "\U00020000", "\U0010fffd", "\U0010ffff",
               "\U0001f1fa\U0001f1f8"),
    # Quotes and metacharacters of SQL, shells, templates, format strings and HTML.
    "meta": ("'", '"', "`", "\\", "'; DROP TABLE books;--", "' OR '1'='1", "%s", "%n", "{0}",
             "${x}", "{{7*7}}", "<b>", "&amp;", "\\u0000", "\\ud800", "\\n", "NULL", "null",
             "None", "--", "/*", "*/", ";", "%", "_", "?", "#", "$1"),
    # Control characters, line separators, non-characters, private use, unassigned.
    "control": ("\x01", "\x08", "\x1b[31m", "\x7f", "\x80", "\x9f", "\r", "\r\n", "\n\r", "\t",
                "\ufffe", "\uffff", "\ufffd", "\ue000", "\u0378", "\u00ad", "\U000e0001"),
}  # fmt: skip

#: Whole strings worth trying as they are (clipped to the member's maximum length).
NASTY_STRINGS: tuple[str, ...] = (
    " ", "\t", "\u3000", "\xa0", "\n", " \t\r\n ", "\u2028", "\ufeff", "\u200b",
    "  Dune  ", "\u3000Dune\u3000", "Dune\xa0", "\r", "0", "-1", "1999", "true", "null",
    "x" * TEXT_MAX, "\U0001d518" * TEXT_MAX, " " * TEXT_MAX, "e\u0301" * (TEXT_MAX // 2),
    "\uff76" * TEXT_MAX, "a" * (TEXT_MAX - 1) + " ",
)  # fmt: skip


def _join(lead: str, pieces: Sequence[str], trail: str) -> str:
    return lead + "".join(pieces) + trail


def _fill(core: str, filler: str, size: int, at_end: bool) -> str:
    """Exactly ``size`` code points: ``core`` followed (or preceded) by repeated ``filler``."""
    padding = filler * size
    return (core + padding)[:size] if at_end else (padding + core)[-size:]


def _clip(size: int) -> Callable[[str], str]:
    return lambda text: text[:size]


@functools.cache
def _traps() -> st.SearchStrategy[str]:
    return st.one_of(*(st.sampled_from(fragments) for fragments in TRAPS.values()))


@functools.cache
def _composed() -> st.SearchStrategy[str]:
    """Optional edge whitespace around a mix of random text and trap fragments."""
    edge = st.text(st.sampled_from(WHITESPACE), max_size=2)
    piece = st.one_of(
        st.text(CONTRACT_CHARS, min_size=1, max_size=8),
        _traps(),
        st.sampled_from(WHITESPACE),
    )
    return st.builds(_join, edge, st.lists(piece, min_size=1, max_size=6), edge)


@functools.cache
def contract_text(max_size: int = TEXT_MAX, min_size: int = 1) -> st.SearchStrategy[str]:
    """Strings of ``min_size``..``max_size`` code points (default 1..500) with no U+0000 and no
    surrogates: every one MUST be stored and returned exactly.

    Example: ``contract_text(32)`` may give ``"\\u3000ﾊﾟ e\\u0301"`` or ``"x" * 32``.
    """
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}..{max_size}")
    exact = st.builds(
        _fill,
        _composed(),
        st.sampled_from(["x", " ", "\U0001d518", "e\u0301", "\u3000", "\uff76"]),
        st.just(max_size),
        st.booleans(),
    )
    texts = st.one_of(
        st.text(CONTRACT_CHARS, min_size=min_size, max_size=max_size),
        _composed(),
        _composed(),
        exact,
        st.sampled_from(NASTY_STRINGS),
    ).map(_clip(max_size))
    # Every branch gives at least one code point: filter (slow to draw) only when more are needed.
    return texts if min_size == 1 else texts.filter(lambda text: len(text) >= min_size)


@functools.cache
def years() -> st.SearchStrategy[int]:
    """JSON integers in the int32 range, biased to its edges and to float-precision traps.

    Example: ``-2147483648``, ``2147483647``, ``16777217`` (not a float32), ``1999``.
    """
    edges = [INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, INT32_MAX, -1, 0, 1, 1999, 2**15,
             -(2**15) - 1, 2**16, 2**24 + 1, -(2**24) - 1, 9999, 10000, -10000]  # fmt: skip
    return st.one_of(
        st.sampled_from(edges),
        st.integers(INT32_MIN, INT32_MAX),
        st.integers(INT32_MAX - 1024, INT32_MAX),
        st.integers(INT32_MIN, INT32_MIN + 1024),
    )


@functools.cache
def valid_bodies(
    isbn: Literal["any", "present", "absent", "null"] = "any",
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid request bodies for ``POST /books`` and ``PUT /books/{id}`` (contract members only).

    ``isbn`` picks how the optional member appears: ``"any"`` (absent, null or a 1..32 string),
    ``"present"``, ``"absent"`` or ``"null"``.

    Example: ``{"title": "\\u3000Dune", "author": "ﬁ", "year": 2147483647}`` (no ``isbn``).
    """
    required = {"title": contract_text(), "author": contract_text(), "year": years()}
    isbn_text = contract_text(ISBN_MAX)
    absent = st.fixed_dictionaries(required)
    null = st.fixed_dictionaries({**required, "isbn": st.none()})
    present = st.fixed_dictionaries({**required, "isbn": isbn_text})
    return {"any": st.one_of(absent, null, present), "absent": absent, "null": null,
            "present": present}[isbn]  # fmt: skip


# -- invalid bodies ------------------------------------------------------------------------------


class InvalidBody(NamedTuple):
    """Raw request bytes that break exactly one rule, and the requirement that rule belongs to.

    ``requirement`` is what a server breaks by accepting the body: ``VAL-TEXT``, ``VAL-YEAR`` or
    ``VAL-ISBN`` for one bad member in an otherwise valid object; ``INVALID-4XX`` for a body that
    is not a JSON object, malformed JSON, empty, invalid UTF-8, or carries a lone-surrogate escape.
    """

    requirement: str
    description: str
    raw: bytes


_PLACEHOLDER = "@@conformance-placeholder@@"


@functools.cache
def _fraction() -> st.SearchStrategy[float]:
    """Finite floats that have a fractional part (so never ``1999.0``)."""
    halves = st.integers(-(2**40), 2**40).map(lambda n: n + 0.5)
    small = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: not x.is_integer())
    return halves | small


@functools.cache
def _json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(), st.booleans(), st.integers(), _fraction(), st.text(CONTRACT_CHARS, max_size=10)
    )


@functools.cache
def _json_values() -> st.SearchStrategy[Any]:
    """Small JSON values of any type (no integral floats, no NUL, no surrogates)."""
    return st.recursive(
        _json_scalars(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(CONTRACT_CHARS, max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )


@functools.cache
def _with_nul(max_size: int) -> st.SearchStrategy[str]:
    """A string that is valid except for one U+0000 somewhere in it."""
    return st.builds(
        lambda text, at: text[:at] + "\x00" + text[at:],
        contract_text(max_size - 1),
        st.integers(0, max_size),
    )


@functools.cache
def _too_long(max_size: int) -> st.SearchStrategy[str]:
    """Exactly one code point too many."""
    return contract_text(max_size).flatmap(
        lambda core: st.builds(
            _fill,
            st.just(core),
            st.sampled_from(["x", "\U0001d518", " ", "e\u0301"]),
            st.just(max_size + 1),
            st.booleans(),
        )
    )


def describe_value(value: Any) -> str:
    """How a wrong JSON value reads in a case description."""
    if value is None:
        return "is null"
    if isinstance(value, bool):
        return f"is the boolean {json.dumps(value)}"
    if isinstance(value, int):
        return "is a number"
    if isinstance(value, float):
        return f"is the number {value!r} (has a fraction)"
    if isinstance(value, str):
        return "is a string"
    return "is an array" if isinstance(value, list) else "is an object"


@functools.cache
def _wrong_types() -> st.SearchStrategy[Any]:
    """JSON values of the wrong type for a text member."""
    objects = st.dictionaries(st.text(CONTRACT_CHARS, max_size=5), _json_scalars(), max_size=2)
    options = [st.none(), st.integers() | _fraction(), st.booleans(), objects,
               st.lists(contract_text(20), max_size=2)]  # fmt: skip
    return st.one_of(*options)


@functools.cache
def _member_kinds() -> dict[str, tuple[str, str, st.SearchStrategy[Any]]]:
    """Kind name -> (requirement, member, bad value); ``DROP`` removes the member."""
    kinds: dict[str, tuple[str, str, st.SearchStrategy[Any]]] = {}
    for member in ("title", "author"):
        kinds[f"{member}-missing"] = ("VAL-TEXT", member, st.just(DROP))
        kinds[f"{member}-wrong-type"] = ("VAL-TEXT", member, _wrong_types())
        kinds[f"{member}-empty"] = ("VAL-TEXT", member, st.just(""))
        kinds[f"{member}-too-long"] = ("VAL-TEXT", member, _too_long(TEXT_MAX))
        kinds[f"{member}-nul"] = ("VAL-TEXT", member, _with_nul(TEXT_MAX))
    above = st.sampled_from([INT32_MAX + 1, 2**32, MAX_ID, MAX_ID + 1, 2**64, 10**30])
    below = st.sampled_from([INT32_MIN - 1, -(2**32), -(MAX_ID + 1), -(MAX_ID + 2)])
    kinds["year-missing"] = ("VAL-YEAR", "year", st.just(DROP))
    kinds["year-wrong-type"] = (
        "VAL-YEAR",
        "year",
        st.one_of(st.none(), years().map(lambda y: [y]), years().map(lambda y: {"value": y})),
    )
    kinds["year-numeric-string"] = ("VAL-YEAR", "year", years().map(str))
    kinds["year-boolean"] = ("VAL-YEAR", "year", st.booleans())
    kinds["year-fraction"] = ("VAL-YEAR", "year", _fraction())
    kinds["year-above-int32"] = ("VAL-YEAR", "year", above | st.integers(INT32_MAX + 1, 2**70))
    kinds["year-below-int32"] = ("VAL-YEAR", "year", below | st.integers(-(2**70), INT32_MIN - 1))
    kinds["isbn-empty"] = ("VAL-ISBN", "isbn", st.just(""))
    kinds["isbn-too-long"] = ("VAL-ISBN", "isbn", _too_long(ISBN_MAX))
    kinds["isbn-nul"] = ("VAL-ISBN", "isbn", _with_nul(ISBN_MAX))
    kinds["isbn-wrong-type"] = (
        "VAL-ISBN",
        "isbn",
        st.one_of(
            st.integers() | _fraction(),
            st.booleans(),
            st.lists(contract_text(ISBN_MAX), max_size=2),
            st.dictionaries(st.text(CONTRACT_CHARS, max_size=5), _json_scalars(), max_size=2),
        ),
    )
    return kinds


def _dumps(body: Any, ascii_only: bool) -> str:
    return json.dumps(body, ensure_ascii=ascii_only)


def _marked(body: dict[str, Any], broken: str, marker: str) -> dict[str, Any]:
    """Put ``marker`` into a text member that is not the broken one."""
    return {**body, ("author" if broken == "title" else "title"): marker}


def _member_case(
    rule: str, member: str, value: st.SearchStrategy[Any], marker: str
) -> st.SearchStrategy[InvalidBody]:
    def build(body: dict[str, Any], bad: Any, ascii_only: bool) -> InvalidBody:
        body = _marked(body, member, marker)
        if bad is DROP:
            body.pop(member, None)
            how = "is missing"
        elif bad == "":
            how = "is empty"
        elif isinstance(bad, str) and "\x00" in bad:
            how = "contains U+0000"
        elif isinstance(bad, str) and member != "year" and len(bad) > ISBN_MAX:
            how = f"has {len(bad)} code points"
        elif member == "year" and type(bad) is int:
            how = f"{bad} is outside int32"
        elif member == "year" and isinstance(bad, str):
            how = f"is the numeric string {bad!r}"
        else:
            how = describe_value(bad)
        if bad is not DROP:
            body[member] = bad
        return InvalidBody(rule, f"{member} {how}", _dumps(body, ascii_only).encode("utf-8"))

    base = valid_bodies(isbn="absent" if member == "isbn" else "any")
    return st.builds(build, base, value, st.booleans())


def _spliced(
    rule: str, how: str, inserts: st.SearchStrategy[str], marker: str, *, escape: bool
) -> st.SearchStrategy[InvalidBody]:
    """A valid body with ``inserts`` spliced into one string member's JSON text.

    With ``escape`` the insert is JSON text (e.g. the escape ``\\ud800``); otherwise it is raw
    bytes given as latin-1 characters (e.g. ``"\\xff"`` for the byte 0xFF).
    """

    def build(body: dict[str, Any], member: str, at: int, insert: str, ascii_only: bool) -> bytes:
        body = _marked(body, member, marker)
        text = body[member]
        limit = ISBN_MAX if member == "isbn" else TEXT_MAX
        text = text[: limit - 1]  # room for the one bad character: length stays valid
        at = min(at, len(text))
        body[member] = text[:at] + _PLACEHOLDER + text[at:]
        dumped = _dumps(body, ascii_only and escape)
        if escape:
            return dumped.replace(_PLACEHOLDER, insert, 1).encode("utf-8")
        return dumped.encode("utf-8").replace(_PLACEHOLDER.encode(), insert.encode("latin-1"), 1)

    members = st.sampled_from(["title", "author", "isbn"])
    raw = st.builds(
        build, valid_bodies(isbn="present"), members, st.integers(0, 40), inserts, st.booleans()
    )
    return raw.map(lambda data: InvalidBody(rule, how, data))


_LONE_SURROGATES = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d", "\\uDE00",
                    "\\udc00\\ud800", "\\ud800\\ud800"]  # fmt: skip
_BAD_UTF8 = ["\xff", "\xfe", "\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80",
             "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82", "\xf0\x9f\x93",
             "\xc3"]  # fmt: skip
_RAW_CONTROLS = ["\n", "\t", "\r", "\x01", "\x1f", "\x08"]


@functools.cache
def _malformed(marker: str) -> st.SearchStrategy[InvalidBody]:
    """JSON syntax errors around an otherwise valid body."""
    body = valid_bodies().map(lambda b: {**b, "title": marker})

    def truncated(b: dict[str, Any], cut: int) -> InvalidBody:
        text = _dumps(b, False)
        cut = 1 + cut % (len(text) - 1)
        return InvalidBody("INVALID-4XX", "malformed JSON: truncated", text[:cut].encode("utf-8"))

    def edit(how: str, change: Callable[[str], str]) -> st.SearchStrategy[InvalidBody]:
        def build(b: dict[str, Any]) -> InvalidBody:
            raw = change(_dumps(b, True)).encode()
            return InvalidBody("INVALID-4XX", f"malformed JSON: {how}", raw)

        return body.map(build)

    def year_text(how: str, literal: str) -> st.SearchStrategy[InvalidBody]:
        def build(b: dict[str, Any], year: int) -> InvalidBody:
            text = _dumps({**b, "year": _PLACEHOLDER}, True)
            value = literal.format(year=year, absyear=abs(year))
            raw = text.replace(json.dumps(_PLACEHOLDER), value).encode()
            return InvalidBody("INVALID-4XX", f"malformed JSON: year {how}", raw)

        return st.builds(build, body, years())

    return st.one_of(
        st.builds(truncated, body, st.integers(0, 10**6)),
        edit("trailing comma", lambda t: t[:-1] + ", }"),
        edit("single quotes", lambda t: t.replace('"', "'")),
        edit("unquoted member name", lambda t: t.replace('"title":', "title:", 1)),
        edit("trailing garbage", lambda t: t + " x"),
        edit("two objects", lambda t: t + t),
        edit("unbalanced bracket", lambda t: t + "]"),
        edit("comment", lambda t: "{/* comment */" + t[1:]),
        edit("missing colon", lambda t: t.replace('"title":', '"title"', 1)),
        year_text("is NaN", "NaN"),
        year_text("is Infinity", "Infinity"),
        year_text("has a leading zero", "0{absyear}"),
        year_text("has a plus sign", "+{absyear}"),
        year_text("is hexadecimal", "0x{absyear:x}"),
        year_text("ends with a dot", "{year}."),
        _spliced("INVALID-4XX", "malformed JSON: unescaped control character in a string",
                 st.sampled_from(_RAW_CONTROLS), marker, escape=True),
    )  # fmt: skip


@functools.cache
def _not_objects(marker: str) -> st.SearchStrategy[InvalidBody]:
    """Well-formed JSON that is not an object (some of it wrapping a valid book)."""
    book = valid_bodies().map(lambda b: {**b, "title": marker})
    values = st.one_of(
        book.map(lambda b: [b]),
        book.map(lambda b: json.dumps(b)),  # the body, encoded twice
        st.just([]),
        st.just(marker),
        st.integers(),
        _fraction(),
        st.booleans(),
        st.none(),
        st.lists(_json_scalars(), max_size=3),
    )
    return values.map(
        lambda v: InvalidBody(
            "INVALID-4XX", f"JSON {type(v).__name__} instead of an object", json.dumps(v).encode()
        )
    )


@functools.cache
def _invalid_kinds(marker: str) -> dict[str, st.SearchStrategy[InvalidBody]]:
    kinds = {
        name: _member_case(rule, member, value, marker)
        for name, (rule, member, value) in _member_kinds().items()
    }
    blank = st.sampled_from([b"", b" ", b"\n", b"\r\n\t "]).map(
        lambda raw: InvalidBody("INVALID-4XX", "empty body" if not raw else "blank body", raw)
    )
    kinds["not-an-object"] = _not_objects(marker)
    kinds["malformed-json"] = _malformed(marker)
    kinds["empty-body"] = blank
    kinds["invalid-utf8"] = _spliced(
        "INVALID-4XX", "invalid UTF-8 in a string", st.sampled_from(_BAD_UTF8), marker, escape=False
    )
    kinds["lone-surrogate"] = _spliced(
        "INVALID-4XX",
        "lone surrogate escape in a string",
        st.sampled_from(_LONE_SURROGATES),
        marker,
        escape=True,
    )
    return kinds


def _requirement_of(kind: str) -> str:
    member = kind.split("-")[0]
    return {"title": "VAL-TEXT", "author": "VAL-TEXT", "year": "VAL-YEAR", "isbn": "VAL-ISBN"}.get(
        member, "INVALID-4XX"
    )


#: The kinds :func:`invalid_bodies` accepts in ``kinds`` (e.g. ``"year-boolean"``), each with the
#: requirement a server that accepts such a body breaks.
INVALID_KINDS: dict[str, str] = {kind: _requirement_of(kind) for kind in _invalid_kinds(MARKER)}


def invalid_bodies(
    kinds: Sequence[str] | None = None, marker: str = MARKER
) -> st.SearchStrategy[InvalidBody]:
    """Request bodies that break exactly one rule in exactly one way.

    ``kinds`` restricts the cases to some of :data:`INVALID_KINDS` (default: all of them). With
    few examples, Hypothesis explores only some kinds of a big ``one_of``: tests that must try
    every kind parametrise over :data:`INVALID_KINDS` and draw a few bodies of each.

    Member-level kinds (``VAL-TEXT``, ``VAL-YEAR``, ``VAL-ISBN``: missing, wrong JSON type,
    boolean or numeric string for the year, a fraction, out of range, empty, too long, U+0000) are
    otherwise-valid objects with ``marker`` as the ``title`` (or as the ``author`` when the title is
    the broken member). Body-level kinds (``INVALID-4XX``) are non-object JSON, malformed JSON, an
    empty or blank body, invalid UTF-8 in a string, or a lone-surrogate escape; the ones that
    carry a book carry the marker too. Unknown members are not invalid: see
    :func:`bodies_with_unknown_members`.

    Example: ``invalid_bodies(["year-boolean"])`` gives e.g. ``InvalidBody("VAL-YEAR",
    "year is the boolean true", b'{"title": "conformance-kit invalid-body probe", "author": "0",
    "year": true}')``.
    """
    table = _invalid_kinds(marker)
    chosen = INVALID_KINDS if kinds is None else kinds
    unknown = [kind for kind in chosen if kind not in table]
    if unknown or not chosen:
        raise ValueError(f"unknown invalid-body kinds {unknown}; choose from {INVALID_KINDS}")
    return st.one_of(*(table[kind] for kind in chosen))


# -- unknown members -----------------------------------------------------------------------------

#: Unknown member names that look like a known member (case, spacing, a dotless i, a zero-width
#: space): a server that maps one onto the known member stores the wrong value.
LOOKALIKE_NAMES: dict[str, str] = {
    "Title": "title", "TITLE": "title", "title ": "title", " title": "title",
    "t\u0131tle": "title", "title\u200b": "title", "Author": "author", "AUTHOR": "author",
    "author ": "author", "Year": "year", "YEAR": "year", "year ": "year", "Isbn": "isbn",
    "ISBN": "isbn", "isbn ": "isbn",
}  # fmt: skip

#: Other member names a server might store or echo.
UNKNOWN_NAMES: tuple[str, ...] = (
    "ID", "Id", "_id", "isbn13", "titles", "created_at", "deleted", "owner", "__proto__",
    "constructor", "$where", "", "conformance_unknown",
)  # fmt: skip


def _value_for(member: str) -> st.SearchStrategy[Any]:
    """Valid values for a known member (so a server that maps a look-alike onto it stores it)."""
    if member == "year":
        return years()
    return contract_text(ISBN_MAX if member == "isbn" else TEXT_MAX)


@functools.cache
def _client_ids() -> st.SearchStrategy[Any]:
    """Values for a client-sent ``id`` that no server can turn into an id a foreign book may have
    (no small positive numbers, no booleans, no digit strings), so a server that wrongly honours
    it cannot overwrite a book the kit did not create."""
    return st.one_of(
        st.integers(2**62, MAX_ID),
        st.integers(max_value=0),
        st.integers(min_value=MAX_ID + 1),
        st.text(CONTRACT_CHARS, max_size=5).filter(lambda text: not looks_like_a_valid_id(text)),
        st.none(),
        _fraction().map(lambda x: -abs(x)),
    )


@functools.cache
def bodies_with_unknown_members() -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies plus at least one member the contract does not define, sometimes ``id``.

    A server MUST ignore such members (neither store nor echo them) or reject the body with
    400/422; a client ``id`` MUST NOT change which id a book has. Look-alikes of known members
    (``Title``, ``year ``, ...) carry values valid for that member, so a server that maps them
    stores a wrong but valid book. Client ``id`` values are never small positive integers (see
    :func:`_client_ids`).

    Example: ``{"title": "a", "author": "b", "year": 1, "Title": "z", "id": 4611686018427387904}``.
    """
    names = st.one_of(
        st.sampled_from(UNKNOWN_NAMES),
        st.text(CONTRACT_CHARS, max_size=8),
    ).filter(lambda name: name not in KNOWN_MEMBERS and name != "id")
    others = st.dictionaries(names, _json_values(), max_size=2)
    lookalikes = st.lists(
        st.sampled_from(sorted(LOOKALIKE_NAMES)), max_size=2, unique=True
    ).flatmap(
        lambda chosen: st.fixed_dictionaries({n: _value_for(LOOKALIKE_NAMES[n]) for n in chosen})
    )
    client_id = st.one_of(st.just(DROP), st.integers(2**62, MAX_ID), _client_ids())

    def build(
        body: dict[str, Any], similar: dict[str, Any], more: dict[str, Any], cid: Any, last: bool
    ) -> dict[str, Any]:
        # Every extra name is unknown, so nothing is overwritten; look-alikes go before or after
        # the known members (a server that maps them may keep the first or the last one).
        merged = {**body, **more, **similar} if last else {**similar, **more, **body}
        if cid is not DROP:
            merged["id"] = cid
        if len(merged) == len(body):
            merged["conformance_unknown"] = None
        return merged

    return st.builds(build, valid_bodies(), lookalikes, others, client_id, st.booleans())


# -- path ids ------------------------------------------------------------------------------------


def looks_like_a_valid_id(text: str) -> bool:
    """Could a reasonable server read ``text`` as an integer in 1..2^63-1 (``"7"``, ``" 7"``,
    ``"07"``, ``"7.0"``, ``"7e0"``, ``"\\u0667"``)? Such texts are not bad ids; never send them.

    Example: ``looks_like_a_valid_id("1_000")`` is True (Python's ``int`` accepts it).
    """
    for parse in (int, float, Decimal):
        try:
            value = parse(text)
        except (ValueError, InvalidOperation, OverflowError):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, Decimal) and not value.is_finite():
            continue
        if value == int(value) and 1 <= int(value) <= MAX_ID:
            return True
    return False


def _segment(text: str) -> str:
    return quote(text, safe="")


@functools.cache
def bad_path_ids() -> st.SearchStrategy[str]:
    """Percent-encoded path segments that are not an integer in 1..2^63-1, for ``GET`` only
    (a server that mis-parses them may read any book, so never write to them).

    Slashes and backslashes are left out: how a framework routes ``%2F`` is not about ids.

    Example: ``"abc"``, ``"-7"``, ``"0"``, ``"1.5"``, ``"9223372036854775808"``, ``"%E2%98%83"``.
    """
    chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00/\\")
    texts = st.text(chars, min_size=1, max_size=20).filter(
        lambda t: t.strip(".") != "" and not looks_like_a_valid_id(t)
    )
    floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    return st.one_of(
        texts,
        st.integers(max_value=0).map(str),
        st.integers(min_value=MAX_ID + 1).map(str),
        st.sampled_from([str(MAX_ID + 1), str(2**64), str(2**64 + 1), "-0", "1.5", "1e3x", "0x10"]),
        floats.filter(lambda t: not looks_like_a_valid_id(t)),
    ).map(_segment)


@functools.cache
def bad_write_ids(owned_id: int) -> st.SearchStrategy[str]:
    """Bad path segments derived from ``owned_id`` (a book the kit created), safe for PUT and
    DELETE: a server that prefix-parses them, strips their non-digits, or wraps them to 64, 63 or
    32 bits can only reach that book (or a non-positive id). No fractions (``7.5`` would strip to
    ``75``) and no hex letters in the affixes (``7abc`` read as hexadecimal).

    Example: for 7: ``"-7"``, ``"7%E2%98%83"``, ``"x7"``, ``"18446744073709551623"`` (2^64 + 7).
    """
    affixes = st.text(
        st.characters(
            exclude_categories=["Cs", "Nd", "No", "Nl"],
            exclude_characters="\x00abcdefABCDEFxXoObB",
        ),
        min_size=1,
        max_size=6,
    )
    base = str(owned_id)
    forms = st.one_of(
        st.sampled_from(["0", "-0", f"-{base}", str(MAX_ID + 1 + owned_id), str(2**64 + owned_id)]),
        st.integers(1, 2**20).map(lambda k: str(k * 2**64 + owned_id)),
        affixes.map(lambda s: base + s),
        affixes.map(lambda s: s + base),
    )
    return forms.filter(lambda t: not looks_like_a_valid_id(t)).map(_segment)
