"""``python -m conformance``: the kit's command line, one subcommand per task.

Each subcommand is a function ``(args) -> exit code`` registered in :func:`parser` with
``add_parser``; to add one, write the function and one ``_command(...)`` call.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance._cli import HELP as RUN_HELP
from conformance._cli import version
from conformance._registry import load_registry
from conformance._spec import render_contract_page

EPILOG = """examples:
  python -m conformance run http://127.0.0.1:8000          # the suite (same as books-conformance)
  python -m conformance spec > docs/contract.md
  python -m conformance ids
  python -m conformance matrix reports/sqlite.json reports/postgres.json -o reports/matrix.html
  python -m conformance matrix reports/*.json --format md >> "$GITHUB_STEP_SUMMARY"
"""

MATRIX_EPILOG = """A cell links into an implementation's HTML report when one sits beside its JSON
report with the same stem (reports/sqlite.json -> reports/sqlite.html: run the suite with
--conformance-report-json reports/sqlite.json --conformance-report-html reports/sqlite.html).

examples:
  python -m conformance matrix reports/sqlite.json reports/postgres.json -o reports/matrix.html
  python -m conformance matrix a.json b.json --name mine --name theirs -o matrix.html
  python -m conformance matrix reports/*.json --format md >> "$GITHUB_STEP_SUMMARY"
"""

Handler = Callable[[argparse.Namespace], int]


def run(args: argparse.Namespace) -> int:
    """Run the suite against URL (books-conformance URL [pytest options])."""
    from conformance._cli import main as run_suite

    return run_suite(list(args.rest))


def spec(args: argparse.Namespace) -> int:
    """Print the contract page (docs/contract.md)."""
    sys.stdout.write(render_contract_page(load_registry()))
    return 0


def ids(args: argparse.Namespace) -> int:
    """List requirement IDs with their levels."""
    for requirement in load_registry().values():
        sys.stdout.write(f"{requirement.id}\t{requirement.level}\n")
    return 0


def matrix(args: argparse.Namespace) -> int:
    """Write the requirements x implementations matrix of JSON reports."""
    from conformance._matrix import (
        MatrixError,
        load_columns,
        render_matrix_html,
        render_matrix_markdown,
    )

    out = None if args.output in (None, "-") else Path(args.output)
    fmt = args.format or ("md" if out is not None and out.suffix == ".md" else "html")
    try:
        columns = load_columns(args.reports, args.name)
    except MatrixError as error:
        sys.stderr.write(f"conformance matrix: {error}\n")
        return 2
    text = render_matrix_html(columns, out) if fmt == "html" else render_matrix_markdown(columns)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        sys.stderr.write(
            f"conformance matrix: -o {out}: cannot write there ({error.strerror or error}); "
            "pass a path in a writable directory\n"
        )
        return 2
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line: ``spec``, ``ids``, ``matrix``."""
    main_parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="The Books API conformance kit's tools (run the suite with pytest: "
        "pytest --pyargs conformance --base-url URL).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    main_parser.add_argument("--version", action="version", version=version())
    commands = main_parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub = _command(commands, "run", run, epilog=RUN_HELP)
    sub.add_argument("rest", nargs=argparse.REMAINDER, metavar="[URL] [pytest options]")
    _command(commands, "spec", spec)
    _command(commands, "ids", ids)
    sub = _command(commands, "matrix", matrix, epilog=MATRIX_EPILOG)
    sub.add_argument(
        "reports", nargs="+", type=Path, metavar="REPORT.json",
        help="JSON reports (--conformance-report-json), one column each",
    )  # fmt: skip
    sub.add_argument(
        "-o", "--output", metavar="PATH", help="where to write it (default: standard output)"
    )
    sub.add_argument(
        "--format", choices=("html", "md"),
        help="html (the default) or md (the default for an -o ending in .md)",
    )  # fmt: skip
    sub.add_argument(
        "--name", action="append", default=[], metavar="NAME",
        help="a column's name, one per report in order (default: the report's target)",
    )  # fmt: skip
    return main_parser


def _command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    handler: Handler,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    summary = (handler.__doc__ or "").strip().splitlines()[0]
    sub: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(handler=handler)
    return sub


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; usage errors exit 2 with one line (argparse's usage line first).

    Example: ``main(["ids"])`` prints ``BOOK-SHAPE\\tMUST`` and more, and returns 0.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"] and argv[1:2] not in (["-h"], ["--help"]):
        return run(argparse.Namespace(rest=argv[1:]))  # every option after `run` is pytest's
    args = parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
