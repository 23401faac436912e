"""``python -m conformance spec`` prints the contract page; ``ids`` lists requirement IDs."""

from __future__ import annotations

import sys

from conformance._registry import load_registry
from conformance._spec import render_contract_page

USAGE = """usage: python -m conformance {spec|ids}
  spec  print the contract page (docs/contract.md)
  ids   list requirement IDs with their levels
"""


def main(argv: list[str]) -> int:
    registry = load_registry()
    if argv == ["spec"]:
        sys.stdout.write(render_contract_page(registry))
        return 0
    if argv == ["ids"]:
        for requirement in registry.values():
            sys.stdout.write(f"{requirement.id}\t{requirement.level}\n")
        return 0
    sys.stderr.write(USAGE)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
