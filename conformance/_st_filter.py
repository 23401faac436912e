"""Schemathesis stage 1, filter: the choices the contract leaves open, never tested either way."""

from __future__ import annotations

import json
import math
from typing import Any

from schemathesis import Case, Response
from schemathesis.core.parameters import ParameterLocation

from conformance._judge import REQUEST_MEMBERS, shape_problem, valid_members
from conformance._registry import limits

#: Writes to the collection: a server that implements one could wipe rows the kit did not create.
COLLECTION_WRITES = {"PUT", "PATCH", "DELETE"}


def may_choice(body: Any) -> bool:
    """Does ``body`` carry a ``year`` that is a JSON number with no fraction (``1999.0``)? The
    contract makes accepting it a MAY, so the kit never tests it either way."""
    year = body.get("year") if isinstance(body, dict) else None
    return isinstance(year, float) and math.isfinite(year) and year.is_integer()


def ambiguous_id(segment: str) -> bool:
    """Is ``segment`` a non-canonical spelling of a valid id (``05``, ``+5``, `` 5``, ``5.0``,
    ``5e0``, an Arabic-Indic five)? The contract names ``abc``, ``0``, ``-1``, ``1.5`` and
    ``2^64`` as bad ids and says nothing of these, so the kit does not test them either way."""
    try:
        value = float(segment)
    except ValueError:
        return False
    return math.isfinite(value) and value.is_integer() and 1 <= value <= limits().id_max


def unknown_members_only(case: Case[Any]) -> bool:
    """Is a negative case invalid only because its body has unknown members? The canonical
    document says ``additionalProperties: false``, but the contract lets a server ignore them."""
    meta = case.meta
    if meta is None or not isinstance(case.body, dict):
        return False
    negative = {location for location, info in meta.components.items() if info.mode.is_negative}
    unknown = set(case.body) - set(REQUEST_MEMBERS)
    return negative == {ParameterLocation.BODY} and bool(unknown) and valid_members(case.body)


def permitted(check: str, case: Case[Any], response: Response) -> bool:
    """Is what ``check`` objects to not this layer's to blame? An accepted body whose only fault
    is unknown members (the contract lets a server ignore them); a served book of the right
    shape whose *values* break the schema (an empty title, a year out of range): BOOK-SHAPE is
    about members and types, and such a value is the fault of the write that stored it, which
    the validation and exact-storage checks judge."""
    if check == "negative_data_rejection":
        return 200 <= response.status_code < 300 and unknown_members_only(case)
    if check == "response_schema_conformance" and 200 <= response.status_code < 300:
        try:
            served = json.loads(response.content)
        except ValueError:
            return False
        books = served if isinstance(served, list) else [served]
        return all(shape_problem(book) is None for book in books)
    return False
