"""The HTML report: one self-contained file (inline CSS and JavaScript, no network) per run.

It shows who judged what (target, contract, kit, profile, date, duration), the summary per level,
the requirement table with filters by outcome and level, one section per root cause with the
requests and responses, the expected behaviour and a reproducer with a copy button, and the
traffic figures. Anchors other pages may link to: ``#req-<ID>`` (a requirement's row) and
``#failure-<ID>`` (the section of the root cause a failed requirement belongs to).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from conformance._exchange import Exchange, reproducer
from conformance._registry import LEVELS
from conformance._report import (
    BLOCKED,
    EXPECTED,
    FAILED,
    NOT_RUN,
    PASSED,
    UNEXPECTED_PASS,
    ConformanceReport,
)

TEMPLATES = Path(__file__).parent / "templates"
#: Outcomes in the order the report lists them, each with a symbol that reads without colour.
OUTCOMES = {
    PASSED: "✔",
    FAILED: "✘",
    EXPECTED: "✘",
    UNEXPECTED_PASS: "✔",
    BLOCKED: "\u2013",  # en dash
    NOT_RUN: "·",
}
#: At most this many requests of a failing test are shown (the reproducer replays them all).
SHOWN_EXCHANGES = 12


@cache
def environment() -> jinja2.Environment:
    """The Jinja environment of the kit's templates (autoescaped HTML)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html", "html.j2", "j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ticks"] = ticks
    return env


def ticks(text: str) -> markupsafe.Markup:
    """Escape ``text`` and show its `backticked` spans as code (rule texts are Markdown-ish).

    Example: ``ticks("`POST /books` answers 201")`` is ``<code>POST /books</code> answers 201``.
    """
    parts = str(markupsafe.escape(text)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as it is
        return markupsafe.Markup("`".join(parts))
    return markupsafe.Markup(
        "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))
    )


def render_report_html(report: ConformanceReport) -> str:
    """The HTML report of a finished run.

    Example::

        html = render_report_html(report)  # report: the run's ConformanceReport
        Path("reports/run.html").write_text(html, encoding="utf-8")
    """
    return environment().get_template("report.html.j2").render(**report_context(report))


def write_report_html(report: ConformanceReport, path: str) -> None:
    """Write :func:`render_report_html` to ``path`` (``--conformance-report-html PATH``)."""
    Path(path).write_text(render_report_html(report), encoding="utf-8")


def report_context(report: ConformanceReport) -> dict[str, Any]:
    """What the template shows, as plain data."""
    data = report.to_json()
    for key in ("kit_version", "profile", "tools", "started", "duration_seconds"):
        data.setdefault(key, None)  # a report not written by the plugin has no provenance
    causes = [_cause(report, number, *cause)
              for number, cause in enumerate(report.root_causes(), start=1)]  # fmt: skip
    anchors = {rid["id"]: cause["anchor"] for cause in causes for rid in cause["rids"]}
    rows = [
        {
            "id": item["id"],
            "level": item["level"],
            "text": item["text"],
            "outcome": item["outcome"],
            "symbol": OUTCOMES[item["outcome"]],
            "layers": item.get("judged_by", item["caught_by"]),
            "blocked_by": item["blocked_by"],
            "expected_reason": item["expected_reason"],
            "anchor": anchors.get(item["id"]),
        }
        for item in data["requirements"]
    ]
    outcomes = [
        {"name": name, "symbol": symbol, "count": sum(r["outcome"] == name for r in rows)}
        for name, symbol in OUTCOMES.items()
    ]
    levels = [
        {
            "name": level,
            "total": sum(r["level"] == level for r in rows),
            "counts": {
                name: sum(r["level"] == level and r["outcome"] == name for r in rows)
                for name in OUTCOMES
            },
        }
        for level in LEVELS
    ]
    return {
        "data": data,
        "rows": rows,
        "outcomes": outcomes,
        "levels": [level for level in levels if level["total"]],
        "causes": causes,
        "verdict": _verdict(report),
        "duration": _duration(data.get("duration_seconds")),
    }


def _verdict(report: ConformanceReport) -> dict[str, str]:
    failing = [rid for rid in report.gating_failures() if rid not in report.expectations]
    unexpected = report.unexpected_passes()
    if report.gone or failing or unexpected:
        reasons = []
        if failing:
            reasons.append(f"{len(failing)} requirement(s) that gate the run failed")
        if unexpected:
            reasons.append(f"{len(unexpected)} unexpected pass(es)")
        if report.gone:
            reasons.append("the run ended early")
        return {"outcome": FAILED, "symbol": "✘", "text": "Does not conform: " + "; ".join(reasons)}
    others = len(report.failed()) + sum(report.status(rid) == EXPECTED for rid in report.registry)
    note = f" ({others} non-gating or expected failure(s) reported below)" if others else ""
    return {"outcome": PASSED, "symbol": "✔", "text": f"Conforms: no gating failure{note}"}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _cause(
    report: ConformanceReport, number: int, failure: Any, rids: list[str], blocked: list[str]
) -> dict[str, Any]:
    exchanges = list(failure.exchanges)
    shown = exchanges[-SHOWN_EXCHANGES:]
    blamed = failure.exchange
    if blamed is not None and blamed not in shown:
        shown = [*shown[1:], blamed] if len(shown) >= SHOWN_EXCHANGES else [*shown, blamed]
    ex = failure.exchange
    return {
        "anchor": f"cause-{number}",
        "expected": all(rid in report.expectations for rid in rids),
        "rids": [
            {
                "id": rid,
                "level": report.registry[rid].level,
                "text": report.registry[rid].text,
                "expected_reason": report.expectations.get(rid),
            }
            for rid in rids
        ],
        "blocks": blocked,
        "test": failure.test,
        "layer": failure.layer,
        "message": failure.message,
        "want": ex.want if ex is not None and ex.want and ex.rule in rids else None,
        "exchanges": [{"text": exchange_text(e), "blamed": e == blamed} for e in shown],
        "omitted": max(0, len(exchanges) - len(shown)),
        "reproducer": reproducer(exchanges).rstrip() if exchanges else None,
        "reproducer_path": failure.script,
    }


def exchange_text(exchange: Exchange) -> str:
    """A request and its response as text, every header included, bodies cut like the JSON's.

    Example: ``> POST /books`` … ``< 200`` … ``< {"id": 1, ...}``.
    """
    data = exchange.to_dict()
    request, response = data["request"], data["response"]
    lines = [f"> {request['method']} {request['path']}"]
    lines += [f"> {name}: {value}" for name, value in request["headers"].items()]
    if request["body"] is not None:
        lines += [">", f"> {request['body']}"]
    if response is None:
        lines.append(f"< no response: {data['error']}")
        return "\n".join(lines)
    lines.append(f"< {response['status']}")
    lines += [f"< {name}: {value}" for name, value in response["headers"].items()]
    if response["body"]:
        lines += ["<", f"< {response['body']}"]
    return "\n".join(lines)
