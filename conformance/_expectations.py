"""Expectation files: the requirement IDs an implementation knowingly fails, each with a reason.

Format (TOML)::

    # expectations for my-books-server
    [expected-failures]
    CREATE-LOCATION = "we do not send Location yet (tracked in #12)"

A listed requirement that fails is reported as an expected failure; one that passes fails the run
(remove it from the file); an ID the registry does not know is a usage error.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path

from conformance._registry import Registry

EXAMPLE = '[expected-failures]\nCREATE-LOCATION = "why this implementation fails it"'


class ExpectationsError(ValueError):
    """The expectations file cannot be used; the message says how to fix it."""


def load_expectations(path: Path, registry: Registry) -> dict[str, str]:
    """Read ``path`` and return ``{requirement ID: reason}``."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ExpectationsError(
            f"expectations file {path} does not exist; create it or drop the option"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ExpectationsError(f"{path}: not valid TOML ({error})") from None
    return parse_expectations(data, registry, str(path))


def parse_expectations(
    data: Mapping[str, object], registry: Registry, source: str
) -> dict[str, str]:
    """Validate decoded expectations against the registry."""
    unknown_tables = sorted(set(data) - {"expected-failures"})
    if unknown_tables:
        raise ExpectationsError(
            f"{source}: unknown table(s) {', '.join(unknown_tables)}; the file holds one table:\n"
            + EXAMPLE
        )
    table = data.get("expected-failures", {})
    if not isinstance(table, dict):
        raise ExpectationsError(f"{source}: [expected-failures] must be a table, e.g.\n{EXAMPLE}")
    expected: dict[str, str] = {}
    for requirement, reason in table.items():
        if requirement not in registry:
            close = difflib.get_close_matches(requirement, list(registry), n=1)
            hint = f" — did you mean {close[0]}?" if close else ""
            raise ExpectationsError(
                f"{source}: unknown requirement ID {requirement!r}{hint} "
                f"(contract v{registry.contract_version} IDs are listed in docs/contract.md)"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ExpectationsError(
                f'{source}: {requirement} needs a reason string, e.g. {requirement} = "why"'
            )
        expected[requirement] = reason
    return expected
