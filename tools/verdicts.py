"""Fail when a requirement's verdict depends on the database backend.

Usage: ``python -m tools.verdicts reports/sqlite.json reports/postgres.json``

Each argument is a JSON report written by ``--conformance-report-json``. Prints a per-requirement
table of outcomes and exits 1 when any requirement differs between the reports (or one report
lacks it), 2 when a report cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def missing_report(path: str) -> str:
    """Why ``path`` is absent, naming the tox env that writes it (the report's stem, as in
    ``reports/sqlite.json`` from the ``sqlite`` env): that env failed or was not run."""
    env = Path(path).stem
    return (
        f"{path} does not exist: the tox env {env!r} did not finish writing it; see its output "
        f"above (or run it: tox -e {env})"
    )


def load(path: str) -> dict[str, str]:
    """``{requirement ID: outcome}`` from one report; SystemExit(2) with a fix hint on bad input."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {item["id"]: item["outcome"] for item in data["requirements"]}
    except FileNotFoundError:
        raise SystemExit(f"verdicts: {missing_report(path)}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise SystemExit(
            f"verdicts: {path} is not a conformance JSON report ({error!r}); "
            "write one with --conformance-report-json"
        ) from None


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m tools.verdicts REPORT.json REPORT.json [...]", file=sys.stderr)
        return 2
    reports = {Path(path).stem: load(path) for path in argv}
    names = list(reports)
    ids = sorted({rid for report in reports.values() for rid in report})
    differing = []
    print("requirement".ljust(20) + "".join(name.ljust(18) for name in names))
    for rid in ids:
        outcomes = [reports[name].get(rid, "missing") for name in names]
        flag = "" if len(set(outcomes)) == 1 else "  <- differs"
        if flag:
            differing.append(rid)
        print(rid.ljust(20) + "".join(outcome.ljust(18) for outcome in outcomes) + flag)
    if differing:
        print(f"verdicts depend on the backend for: {', '.join(differing)}", file=sys.stderr)
        return 1
    print(f"all {len(ids)} verdicts agree across {', '.join(names)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
            sys.exit(2)
        raise
