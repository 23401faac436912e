"""``books-conformance [URL] [pytest options]``: the kit for people who do not write pytest.

It runs ``pytest --pyargs conformance --base-url URL`` with the options given; with no URL the
bundled reference app is booted (when the ``reference`` extra is installed).
"""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

from conformance._registry import load_registry

HELP = """\
usage: books-conformance [URL] [pytest options]

Judge a Books API v1 implementation at URL over HTTP, rule by rule, and print a report.
With no URL, the bundled reference app is booted on a temporary SQLite file (needs
pip install 'books-conformance[reference]').

examples:
  books-conformance http://127.0.0.1:8000
  books-conformance http://127.0.0.1:8000 -x                     # stop at the first root cause
  books-conformance http://127.0.0.1:8000 --conformance-profile quick
  books-conformance http://127.0.0.1:8000 --conformance-report-json report.json \\
      --conformance-report-md report.md --junitxml junit.xml
  books-conformance http://127.0.0.1:8000 --conformance-requirement CREATE-OK

Every --conformance-* option (see `pytest --help`, group "Books API conformance kit") and every
pytest option may follow the URL. Exit status: 0 conformant (MUST rules), 1 a rule failed,
4 usage error (bad option, unreachable target).
Same as: pytest --pyargs conformance -p no:cacheprovider --base-url URL [options]
"""


def version() -> str:
    try:
        kit = metadata.version("books-conformance")
    except metadata.PackageNotFoundError:  # a checkout that is not installed
        kit = "unknown"
    return f"books-conformance {kit} (Books API contract v{load_registry().contract_version})"


def pytest_args(argv: list[str]) -> list[str] | str:
    """The pytest command line for ``argv``, or a one-line usage error."""
    url = argv[0] if argv and not argv[0].startswith("-") else None
    rest = argv[1:] if url is not None else argv
    if url is not None and not url.startswith(("http://", "https://")):
        return (
            f"books-conformance: {url!r} is not an http(s) URL; "
            "pass e.g. http://127.0.0.1:8000 (or no URL to test the bundled reference app)"
        )
    target = ["--base-url", url] if url is not None else []
    return ["--pyargs", "conformance", "-p", "no:cacheprovider", *target, *rest]


def main(argv: list[str] | None = None) -> int:
    """Run the kit; the exit status is pytest's.

    Example: ``main(["http://127.0.0.1:8000", "-x"])``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(HELP)
        return 0
    if args[:1] == ["--version"]:
        sys.stdout.write(version() + "\n")
        return 0
    command = pytest_args(args)
    if isinstance(command, str):
        sys.stderr.write(command + "\n")
        return int(pytest.ExitCode.USAGE_ERROR)
    return int(pytest.main(command))
