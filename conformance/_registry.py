"""The contract as data: the requirement registry and the canonical OpenAPI document.

Both files live in ``conformance/contract/``; everything else in the kit derives from them,
numbers included: :class:`Limits` reads the schema bounds from the OpenAPI document and the
rest from the registry's ``[limits]`` table, and requirement texts refer to them as ``{name}``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTRACT_DIR = Path(__file__).parent / "contract"
REQUIREMENTS_FILE = CONTRACT_DIR / "requirements.toml"
OPENAPI_FILE = CONTRACT_DIR / "openapi.yaml"
LEVELS = ("MUST", "SHOULD", "MAY")
#: ``{id}`` in a rule text is a path template (``/books/{id}``), not a number.
_TEMPLATE = re.compile(r"\{(\w+)\}")
_PATH_PARAMETERS = {"id"}


class RegistryError(ValueError):
    """The requirement registry file is malformed."""


@dataclass(frozen=True)
class Limits:
    """The contract's numbers and member names, each written once in ``conformance/contract/``.

    Example: ``load_registry().limits.text_max`` is 500 (``maxLength`` of ``Title``).
    """

    id_max: int
    text_max: int
    isbn_max: int
    year_min: int
    year_max: int
    body_max_bytes: int
    concurrency: int
    members: tuple[str, ...]  # of a served book, ``id`` first
    request_members: tuple[str, ...]  # of a request body

    def texts(self) -> dict[str, str]:
        """How each number reads in a rule text."""
        mib = self.body_max_bytes / 2**20
        return {
            "id_max": _power_of_two(self.id_max),
            "text_max": str(self.text_max),
            "isbn_max": str(self.isbn_max),
            "year_min": str(self.year_min),
            "year_max": str(self.year_max),
            "body_max": f"{mib:g} MiB" if mib.is_integer() else f"{self.body_max_bytes} bytes",
            "concurrency": str(self.concurrency),
        }


def _power_of_two(number: int) -> str:
    """``9223372036854775807`` reads ``2^63-1``."""
    bits = (number + 1).bit_length() - 1
    return f"2^{bits}-1" if number + 1 == 2**bits else str(number)


def limits_from(document: Mapping[str, Any], table: Mapping[str, Any], source: str) -> Limits:
    """The contract's numbers: bounds from the OpenAPI ``document``, the rest from ``table``."""
    try:
        schemas = document["components"]["schemas"]
        limits = Limits(
            id_max=int(schemas["BookId"]["maximum"]),
            text_max=int(schemas["Title"]["maxLength"]),
            isbn_max=int(schemas["Isbn"]["maxLength"]),
            year_min=int(schemas["Year"]["minimum"]),
            year_max=int(schemas["Year"]["maximum"]),
            body_max_bytes=int(table["body_max_bytes"]),
            concurrency=int(table["concurrency"]),
            members=tuple(schemas["Book"]["required"]),
            request_members=tuple(schemas["BookIn"]["properties"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise RegistryError(
            f"{source}: a contract number is missing or not an integer ({error!r}); [limits] "
            "needs body_max_bytes and concurrency, openapi.yaml the schema bounds"
        ) from None
    return limits


@dataclass(frozen=True)
class Requirement:
    """One rule of the contract, e.g. ``Requirement("CREATE-OK", "MUST", "Operations", "...")``.

    ``needs`` are the requirements its tests need to work at all (its direct prerequisites).
    """

    id: str
    level: str
    section: str
    text: str
    needs: tuple[str, ...] = ()

    @property
    def gating(self) -> bool:
        """MUST rules fail the run; SHOULD and MAY rules fail it only in strict mode."""
        return self.level == "MUST"


@dataclass(frozen=True)
class Registry(Mapping[str, Requirement]):
    """All requirements of one contract version, in registry order.

    Example::

        registry = load_registry()
        registry["CREATE-OK"].level  # "MUST"
        registry.prerequisites("PUT-404")  # {"CREATE-OK", "PUT-OK", "DELETE-OK", ...}
    """

    contract_version: str
    requirements: Mapping[str, Requirement]
    limits: Limits

    def __getitem__(self, key: str) -> Requirement:
        return self.requirements[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)

    def prerequisites(self, rid: str) -> set[str]:
        """Every requirement ``rid`` needs, directly or through another one."""
        found: set[str] = set()
        todo = list(self[rid].needs)
        while todo:
            need = todo.pop()
            if need not in found:
                found.add(need)
                todo.extend(self[need].needs)
        return found

    def depth(self, rid: str) -> int:
        """0 for a requirement that needs nothing, else one more than its deepest need."""
        return max((self.depth(need) + 1 for need in self[rid].needs), default=0)


def parse_registry(data: Mapping[str, Any], source: str, limits: Limits | None = None) -> Registry:
    """Validate a decoded registry; errors name ``source`` and the offending entry."""
    version = data.get("contract_version")
    if not isinstance(version, str) or not version:
        raise RegistryError(f"{source}: 'contract_version' must be a non-empty string")
    entries = data.get("requirement")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{source}: no [[requirement]] entries")
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: requirement #{index}"
        fields: dict[str, Any] = {}
        for name in ("id", "level", "section", "text"):
            value = entry.get(name) if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                raise RegistryError(f"{where}: '{name}' must be a non-empty string")
            fields[name] = value
        if fields["level"] not in LEVELS:
            raise RegistryError(f"{where}: level {fields['level']!r} is not one of {LEVELS}")
        if fields["id"] in seen:
            raise RegistryError(f"{where}: duplicate id {fields['id']!r}")
        seen.add(fields["id"])
        needs = entry.get("needs", [])
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise RegistryError(f"{where}: 'needs' must be a list of IDs, e.g. [\"CREATE-OK\"]")
        checked.append({**fields, "needs": tuple(needs), "where": where})
    if limits is None:
        limits = limits_from(_openapi(), data.get("limits", {}), source)
    numbers = limits.texts()
    requirements: dict[str, Requirement] = {}
    for fields in checked:
        where = fields.pop("where")
        fields["text"] = _render(fields["text"], numbers, where)
        requirements[fields["id"]] = Requirement(**fields)
    for rid, requirement in requirements.items():
        unknown = [need for need in requirement.needs if need not in requirements]
        if unknown:
            raise RegistryError(f"{source}: {rid} needs unknown requirement(s) {unknown}")
    registry = Registry(version, requirements, limits)
    for rid in registry:
        if rid in registry.prerequisites(rid):
            raise RegistryError(f"{source}: {rid} needs itself (a cycle in 'needs')")
    return registry


def _render(text: str, numbers: Mapping[str, str], where: str) -> str:
    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in numbers:
            return numbers[name]
        if name in _PATH_PARAMETERS:
            return match.group(0)
        raise RegistryError(f"{where}: unknown number {{{name}}}; known: {', '.join(numbers)}")

    return _TEMPLATE.sub(number, text)


@cache
def load_registry(path: Path = REQUIREMENTS_FILE) -> Registry:
    """Load and validate the requirement registry (cached)."""
    with path.open("rb") as handle:
        return parse_registry(tomllib.load(handle), str(path))


@cache
def _openapi_text() -> str:
    return OPENAPI_FILE.read_text(encoding="utf-8")


@cache
def _openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(_openapi_text())
    return document


def load_openapi() -> dict[str, Any]:
    """The canonical OpenAPI document as a fresh dict (callers may mutate it)."""
    document: dict[str, Any] = yaml.safe_load(_openapi_text())
    return document


def limits() -> Limits:
    """The contract's numbers (see :class:`Limits`)."""
    return load_registry().limits
