"""The implementations matrix: requirements x implementations, one column per JSON report.

Rows are grouped by contract section, each cell shows the outcome (symbol, word and colour), and
a totals row closes the table. A cell links into that implementation's HTML report when one sits
beside its JSON report with the same stem (``reports/sqlite.json`` → ``reports/sqlite.html``,
written with ``--conformance-report-html``): a failed cell to the failure's section
(``#failure-<ID>``), any other to the requirement's row (``#req-<ID>``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance._html import OUTCOMES, environment
from conformance._registry import LEVELS
from conformance._report import BLOCKED, EXPECTED, FAILED, NOT_RUN, PASSED, UNEXPECTED_PASS

ABSENT = "absent"  # the requirement is not in this report (another contract version)
_FIELDS = ("id", "level", "section", "text", "outcome")


class MatrixError(ValueError):
    """A report the matrix cannot read; the message is one line that says how to fix it."""


@dataclass
class Column:
    """One implementation: its name, its JSON report and the HTML report beside it, if any."""

    name: str
    source: Path
    data: dict[str, Any]
    html: Path | None

    def outcome(self, rid: str) -> str:
        return self.outcomes.get(rid, ABSENT)

    @property
    def outcomes(self) -> dict[str, str]:
        return {item["id"]: item["outcome"] for item in self.data["requirements"]}


def load_report(path: Path) -> dict[str, Any]:
    """A JSON report written by ``--conformance-report-json``, checked enough to draw it.

    Example: ``load_report(Path("reports/sqlite.json"))["target"]``.
    """
    hint = "pass a report written with --conformance-report-json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MatrixError(f"{path}: no such file; {hint}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MatrixError(f"{path}: cannot read it ({error}); {hint}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise MatrixError(f"{path}: not JSON ({error}); {hint}") from None
    if not isinstance(data, dict) or "contract_version" not in data:
        raise MatrixError(f"{path}: not a conformance JSON report (no contract_version); {hint}")
    items = data.get("requirements")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MatrixError(f"{path}: not a conformance JSON report (no requirements list); {hint}")
    known = set(OUTCOMES)
    for item in items:
        missing = [name for name in _FIELDS if name not in item]
        if missing:
            raise MatrixError(f"{path}: a requirement lacks {', '.join(missing)}; {hint}")
        if item["outcome"] not in known:
            raise MatrixError(f"{path}: {item['id']} has an unknown outcome {item['outcome']!r}")
    return data


def load_columns(reports: Sequence[Path], names: Sequence[str] = ()) -> list[Column]:
    """One column per report, named by ``names`` (default: each report's target, then its stem
    when two targets are alike)."""
    if not reports:
        raise MatrixError("no report given; pass one or more JSON reports")
    if names and len(names) != len(reports):
        raise MatrixError(
            f"{len(names)} --name for {len(reports)} report(s); give one --name per report, "
            "in the same order, or none"
        )
    datas = [load_report(Path(path)) for path in reports]
    chosen = list(names) or [
        str(data.get("target") or Path(path).stem)
        for path, data in zip(reports, datas, strict=True)
    ]
    if not names:
        chosen = [
            f"{name} ({Path(path).stem})" if chosen.count(name) > 1 else name
            for name, path in zip(chosen, reports, strict=True)
        ]
    columns = []
    for name, path, data in zip(chosen, reports, datas, strict=True):
        html = Path(path).with_suffix(".html")
        columns.append(Column(name, Path(path), data, html if html.is_file() else None))
    return columns


def _rows(columns: Sequence[Column]) -> list[dict[str, Any]]:
    """Every requirement of any report, in contract order (the first report's, then others')."""
    seen: dict[str, dict[str, Any]] = {}
    for column in columns:
        for item in column.data["requirements"]:
            seen.setdefault(item["id"], item)
    return list(seen.values())


def _href(column: Column, out: Path | None) -> str | None:
    """The column's HTML report, relative to the folder the matrix is written to."""
    if column.html is None:
        return None
    base = out.parent if out is not None else Path.cwd()
    return Path(os.path.relpath(column.html.resolve(), base.resolve())).as_posix()


def _link(column: Column, rid: str, outcome: str, out: Path | None) -> str | None:
    href = _href(column, out)
    if href is None:
        return None
    anchor = "failure" if outcome in (FAILED, EXPECTED) else "req"
    return f"{href}#{anchor}-{rid}"


def matrix_context(columns: Sequence[Column], out: Path | None = None) -> dict[str, Any]:
    """What the matrix shows, as plain data; links are relative to ``out``'s folder."""
    sections: list[dict[str, Any]] = []
    for item in _rows(columns):
        if not sections or sections[-1]["name"] != item["section"]:
            sections.append({"name": item["section"], "rows": []})
        cells = []
        for column in columns:
            outcome = column.outcome(item["id"])
            cells.append(
                {
                    "outcome": outcome,
                    "symbol": OUTCOMES.get(outcome, "—"),
                    "word": "not in this report" if outcome == ABSENT else outcome,
                    "href": None if outcome == ABSENT else _link(column, item["id"], outcome, out),
                    "title": f"{item['id']} ({item['level']}) {outcome} on {column.name}",
                }
            )
        sections[-1]["rows"].append({**item, "cells": cells})
    rows = [row for section in sections for row in section["rows"]]
    totals = []
    for name in (PASSED, FAILED, EXPECTED, UNEXPECTED_PASS, BLOCKED, NOT_RUN):
        counts = [sum(c.outcome(row["id"]) == name for row in rows) for c in columns]
        if any(counts):
            totals.append({"name": name, "symbol": OUTCOMES[name], "counts": counts})
    levels = []
    for level in LEVELS:
        ids = [row["id"] for row in rows if row["level"] == level]
        if ids:
            passed = [sum(c.outcome(rid) == PASSED for rid in ids) for c in columns]
            levels.append({"name": level, "total": len(ids), "passed": passed})
    heads = [
        {
            "name": column.name,
            "href": _href(column, out),
            "target": column.data.get("target", ""),
            "kit_version": column.data.get("kit_version"),
            "profile": column.data.get("profile"),
            "started": column.data.get("started"),
            "contract_version": column.data.get("contract_version"),
            "source": column.source.name,
        }
        for column in columns
    ]
    return {"columns": heads, "sections": sections, "totals": totals, "levels": levels,
            "count": len(rows), "outcomes": OUTCOMES}  # fmt: skip


def render_matrix_html(columns: Sequence[Column], out: Path | None = None) -> str:
    """The matrix as one self-contained HTML page (links relative to ``out``'s folder)."""
    return environment().get_template("matrix.html.j2").render(**matrix_context(columns, out))


def render_matrix_markdown(columns: Sequence[Column]) -> str:
    """The matrix as a Markdown table, e.g. for ``$GITHUB_STEP_SUMMARY``."""
    context = matrix_context(columns)
    names = [column["name"].replace("|", "\\|") for column in context["columns"]]
    out = ["## Books API conformance matrix", ""]
    out.append("| Requirement | Level | " + " | ".join(names) + " |")
    out.append("|---|---|" + "---|" * len(names))
    blank = " |" * len(names)
    for section in context["sections"]:
        out.append(f"| **{section['name']}** | |{blank}")
        for row in section["rows"]:
            cells = " | ".join(f"{cell['symbol']} {cell['word']}" for cell in row["cells"])
            out.append(f"| {row['id']} | {row['level']} | {cells} |")
    for level in context["levels"]:
        counts = " | ".join(f"{n}/{level['total']}" for n in level["passed"])
        out.append(f"| **{level['name']} passed** | | {counts} |")
    for total in context["totals"]:
        counts = " | ".join(str(n) for n in total["counts"])
        out.append(f"| **{total['symbol']} {total['name']}** | | {counts} |")
    return "\n".join(out) + "\n"


def write_matrix_html(reports: list[Path], names: list[str], out: Path) -> None:
    """Write the matrix of ``reports`` (one column each, named ``names``) to ``out``.

    Example::

        write_matrix_html([Path("reports/sqlite.json"), Path("reports/postgres.json")],
                          ["sqlite", "postgres"], Path("reports/matrix.html"))

    Raises :class:`MatrixError` (one line) for a report it cannot read.
    """
    columns = load_columns(reports, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_matrix_html(columns, out), encoding="utf-8")
