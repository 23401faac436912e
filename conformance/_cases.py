"""Conformance data: request bodies that the contract says are valid or invalid.

Each case names the requirement it exercises, so the parametrised tests blame the right rule.
The numbers come from the contract (:func:`conformance._registry.limits`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from conformance._bodies import DROP, ISBN_MAX, LIMITS, TEXT_MAX, YEAR_MAX, YEAR_MIN, with_members

__all__ = ["DROP", "EXACT_STRINGS", "INVALID_BODIES", "LIMITS", "VALID_EDGES", "BodyCase",
           "valid_body"]  # fmt: skip
_counter = itertools.count(1)


def valid_body(**changes: Any) -> dict[str, Any]:
    """A fresh valid body whose title carries a run-unique marker.

    Example: ``valid_body(isbn=DROP)`` has no ``isbn`` member; ``valid_body(year=0)`` sets it.
    """
    body = {
        "title": f"Conformance kit book {next(_counter)}",
        "author": "A. N. Author",
        "year": 1999,
        "isbn": "978-0-00-000000-2",
    }
    return with_members(body, changes)


@dataclass(frozen=True)
class BodyCase:
    """A request body and the requirement a wrong verdict on it breaks."""

    name: str
    requirement: str
    members: dict[str, Any] | None = None  # merged over a valid body; a value of DROP removes it
    raw: bytes | None = None  # sent verbatim instead (non-object or malformed bodies)

    @property
    def well_formed(self) -> bool:
        """Is the body well-formed JSON (so a 422 is what the contract prefers)?"""
        if self.raw is None:
            return True
        try:
            json.loads(self.raw.decode("utf-8"), parse_constant=_reject_constant)
        except ValueError:
            return False
        return "\\ud8" not in self.raw.decode("utf-8").lower()

    def body(self, marker: str) -> bytes:
        """The bytes to send; ``marker`` goes into a member the case does not break."""
        if self.raw is not None:
            return self.raw
        base = valid_body()
        base["author" if "title" in (self.members or {}) else "title"] = marker
        return json.dumps(with_members(base, self.members or {}), ensure_ascii=False).encode()


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


INVALID_BODIES = [
    BodyCase("title-missing", "VAL-TEXT", {"title": DROP}),
    BodyCase("author-missing", "VAL-TEXT", {"author": DROP}),
    BodyCase("title-empty", "VAL-TEXT", {"title": ""}),
    BodyCase("author-empty", "VAL-TEXT", {"author": ""}),
    BodyCase("title-too-long", "VAL-TEXT", {"title": "x" * (TEXT_MAX + 1)}),
    BodyCase("author-too-long-astral", "VAL-TEXT", {"author": "\U0001d518" * (TEXT_MAX + 1)}),
    BodyCase("title-nul", "VAL-TEXT", {"title": "nul\u0000inside"}),
    BodyCase("author-nul", "VAL-TEXT", {"author": "\u0000"}),
    BodyCase("title-number", "VAL-TEXT", {"title": 42}),
    BodyCase("title-null", "VAL-TEXT", {"title": None}),
    BodyCase("author-bool", "VAL-TEXT", {"author": True}),
    BodyCase("title-array", "VAL-TEXT", {"title": ["a"]}),
    BodyCase("author-object", "VAL-TEXT", {"author": {"name": "a"}}),
    BodyCase("year-missing", "VAL-YEAR", {"year": DROP}),
    BodyCase("year-string", "VAL-YEAR", {"year": "1999"}),
    BodyCase("year-true", "VAL-YEAR", {"year": True}),
    BodyCase("year-false", "VAL-YEAR", {"year": False}),
    BodyCase("year-fraction", "VAL-YEAR", {"year": 1999.5}),
    BodyCase("year-above-max", "VAL-YEAR", {"year": YEAR_MAX + 1}),
    BodyCase("year-below-min", "VAL-YEAR", {"year": YEAR_MIN - 1}),
    BodyCase("year-int64-overflow", "VAL-YEAR", {"year": LIMITS.id_max + 1}),
    BodyCase("year-null", "VAL-YEAR", {"year": None}),
    BodyCase("year-array", "VAL-YEAR", {"year": [1999]}),
    BodyCase("isbn-empty", "VAL-ISBN", {"isbn": ""}),
    BodyCase("isbn-too-long", "VAL-ISBN", {"isbn": "1" * (ISBN_MAX + 1)}),
    BodyCase("isbn-nul", "VAL-ISBN", {"isbn": "978\u0000"}),
    BodyCase("isbn-number", "VAL-ISBN", {"isbn": 9780000000002}),
    BodyCase("isbn-bool", "VAL-ISBN", {"isbn": True}),
    BodyCase("json-array", "INVALID-4XX", raw=b"[]"),
    BodyCase("json-string", "INVALID-4XX", raw=b'"a book"'),
    BodyCase("json-number", "INVALID-4XX", raw=b"42"),
    BodyCase("json-null", "INVALID-4XX", raw=b"null"),
    BodyCase("malformed-truncated", "INVALID-4XX", raw=b'{"title": "Dune", "author": '),
    BodyCase("malformed-unquoted", "INVALID-4XX", raw=b"{title: 'Dune'}"),
    BodyCase("malformed-nan", "INVALID-4XX", raw=b'{"title": "a", "author": "b", "year": NaN}'),
    BodyCase(
        "malformed-trailing", "INVALID-4XX", raw=b'{"title": "a", "author": "b", "year": 1} x'
    ),
    BodyCase("empty-body", "INVALID-4XX", raw=b""),
    BodyCase(
        "invalid-utf8", "INVALID-4XX", raw=b'{"title": "bad \xff\xfe", "author": "b", "year": 1}'
    ),
    BodyCase(
        "lone-surrogate", "INVALID-4XX", raw=b'{"title": "\\ud800", "author": "b", "year": 1}'
    ),
]

VALID_EDGES = [
    BodyCase("title-1", "VAL-TEXT", {"title": "x"}),
    BodyCase("title-longest", "VAL-TEXT", {"title": "t" * TEXT_MAX}),
    BodyCase("author-longest-astral", "VAL-TEXT", {"author": "\U0001d518" * TEXT_MAX}),
    BodyCase("title-whitespace-only", "VAL-TEXT", {"title": " \t "}),
    BodyCase("year-min", "VAL-YEAR", {"year": YEAR_MIN}),
    BodyCase("year-max", "VAL-YEAR", {"year": YEAR_MAX}),
    BodyCase("year-zero", "VAL-YEAR", {"year": 0}),
    BodyCase("isbn-absent", "VAL-ISBN", {"isbn": DROP}),
    BodyCase("isbn-null", "VAL-ISBN", {"isbn": None}),
    BodyCase("isbn-1", "VAL-ISBN", {"isbn": "1"}),
    BodyCase("isbn-longest", "VAL-ISBN", {"isbn": "9" * ISBN_MAX}),
]

EXACT_STRINGS = {
    "padded": "  Dune  ",
    "newlines-tabs": "line one\nline two\ttabbed\r\n",
    "mixed-case": "McDonald's iPhone ÉCOLE",
    "nfd-combining": "Cafe\u0301 Noe\u0308l",
    "nfc-precomposed": "Café Noël",
    "compatibility-ligature": "\ufb01nance \uff46\uff55\uff4c\uff4c \u2460",
    "astral": "\U0001d518\U0001d52b\U0001d526 \U0001f4da\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "rtl": "שלום עולם مرحبا",
    "quotes-sql": 'Robert\'); DROP TABLE books;-- "quoted" `tick` \\ backslash %s {}',
    "zero-width-and-separators": "a\u200bb\u2028c\u00a0d\ufeff",
    "html": "<script>alert(1)</script> &amp;",
}
