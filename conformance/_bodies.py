"""Request-body basics shared by the hand-written cases and the strategies: the contract's
numbers and the one spelling of "leave this member out"."""

from __future__ import annotations

from typing import Any

from conformance._registry import limits

#: A member value meaning "leave this member out of the body".
DROP: Any = type("Drop", (), {"__repr__": lambda self: "DROP"})()
LIMITS = limits()
TEXT_MAX, ISBN_MAX = LIMITS.text_max, LIMITS.isbn_max
YEAR_MIN, YEAR_MAX = LIMITS.year_min, LIMITS.year_max


def with_members(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``changes`` applied; a value of :data:`DROP` removes the member.

    Example: ``with_members({"title": "a", "isbn": "1"}, {"isbn": DROP})`` is ``{"title": "a"}``.
    """
    changed = dict(body)
    for key, value in changes.items():
        if value is DROP:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed
