"""The contract as data: the requirement registry and the canonical OpenAPI document.

Both files live in ``conformance/contract/``; everything else in the kit derives from them.
"""

from __future__ import annotations

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


class RegistryError(ValueError):
    """The requirement registry file is malformed."""


@dataclass(frozen=True)
class Requirement:
    """One rule of the contract, e.g. ``Requirement("CREATE-OK", "MUST", "Operations", "...")``."""

    id: str
    level: str
    section: str
    text: str

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
    """

    contract_version: str
    requirements: Mapping[str, Requirement]

    def __getitem__(self, key: str) -> Requirement:
        return self.requirements[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)


def parse_registry(data: Mapping[str, Any], source: str) -> Registry:
    """Validate a decoded registry; errors name ``source`` and the offending entry."""
    version = data.get("contract_version")
    if not isinstance(version, str) or not version:
        raise RegistryError(f"{source}: 'contract_version' must be a non-empty string")
    entries = data.get("requirement")
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{source}: no [[requirement]] entries")
    requirements: dict[str, Requirement] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: requirement #{index}"
        fields = {}
        for name in ("id", "level", "section", "text"):
            value = entry.get(name) if isinstance(entry, dict) else None
            if not isinstance(value, str) or not value:
                raise RegistryError(f"{where}: '{name}' must be a non-empty string")
            fields[name] = value
        if fields["level"] not in LEVELS:
            raise RegistryError(f"{where}: level {fields['level']!r} is not one of {LEVELS}")
        if fields["id"] in requirements:
            raise RegistryError(f"{where}: duplicate id {fields['id']!r}")
        requirements[fields["id"]] = Requirement(**fields)
    return Registry(version, requirements)


@cache
def load_registry(path: Path = REQUIREMENTS_FILE) -> Registry:
    """Load and validate the requirement registry (cached)."""
    with path.open("rb") as handle:
        return parse_registry(tomllib.load(handle), str(path))


@cache
def _openapi_text() -> str:
    return OPENAPI_FILE.read_text(encoding="utf-8")


def load_openapi() -> dict[str, Any]:
    """The canonical OpenAPI document as a fresh dict (callers may mutate it)."""
    document: dict[str, Any] = yaml.safe_load(_openapi_text())
    return document
