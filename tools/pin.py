"""Write constraints.txt with some pins replaced: ``python -m tools.pin OUT NAME==VERSION...``.

The tox env ``pytest-oldest`` installs with constraints.txt but for ``pytest==8.4.2`` (uv cannot
override a constraint, and a second full copy of constraints.txt would drift).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pinned(text: str, pins: list[str]) -> str:
    """``text`` (a constraints file) with the lines of the packages in ``pins`` replaced."""
    names = {re.split(r"[=<>!~]", pin, maxsplit=1)[0].lower(): pin for pin in pins}
    lines = []
    for line in text.splitlines():
        name = re.split(r"[=<>!~ ]", line.strip(), maxsplit=1)[0].lower()
        if name not in names:
            lines.append(line)
    return "\n".join([*lines, *names.values()]) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not all("==" in pin for pin in argv[1:]):
        print("usage: python -m tools.pin OUT NAME==VERSION [...]", file=sys.stderr)
        return 2
    text = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    Path(argv[0]).write_text(pinned(text, argv[1:]), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
