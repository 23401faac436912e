"""The command line's arguments and environment fallbacks (in-process, no server)."""

from __future__ import annotations

import pytest

from reference_app.__main__ import build_parser
from reference_app.database import DEFAULT_DATABASE_URL

APP_VARIABLES = ("HOST", "PORT", "DATABASE_URL", "SQL_ECHO")


@pytest.fixture(autouse=True)
def no_app_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without the app's environment variables."""
    for name in APP_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.database_url, args.echo) == (
        "127.0.0.1",
        8000,
        DEFAULT_DATABASE_URL,
        False,
    )
    assert DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./books.db"


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://books@db/books")
    monkeypatch.setenv("SQL_ECHO", "1")
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.database_url, args.echo) == (
        "0.0.0.0",
        0,
        "postgresql+asyncpg://books@db/books",
        True,
    )


def test_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not a port")
    monkeypatch.setenv("DATABASE_URL", "mysql://ignored")
    args = build_parser().parse_args(
        ["--port", "9000", "--database-url", "sqlite+aiosqlite:///x.db", "--echo"]
    )
    assert (args.port, args.database_url, args.echo) == (9000, "sqlite+aiosqlite:///x.db", True)


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (["--port", "abc"], {}, "argument --port: 'abc' is not a port number; use an integer"),
        (["--port", "65536"], {}, "argument --port: '65536' is not a port number"),
        (["--port", "-1"], {}, "argument --port: '-1' is not a port number"),
        (["--port", "80.5"], {}, "argument --port: '80.5' is not a port number"),
        ([], {"PORT": "http"}, "argument --port: 'http' is not a port number"),
        (
            ["--database-url", "mysql://localhost/books"],
            {},
            "argument --database-url: unsupported database URL scheme 'mysql'; "
            "use sqlite+aiosqlite:///PATH (e.g. sqlite+aiosqlite:///./books.db) "
            "or postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DBNAME",
        ),
        (
            [],
            {"DATABASE_URL": "postgresql://localhost/books"},
            "unsupported database URL scheme 'postgresql'; use sqlite+aiosqlite:///PATH",
        ),
        (["--database-url", "books.db"], {}, "cannot parse database URL 'books.db'; use"),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
    ],
    # Neutral ids: "-k sqlite" and "-k postgres" select by backend, and these need none.
    ids=[
        "port-abc",
        "port-65536",
        "port-negative",
        "port-fraction",
        "PORT-env",
        "url-mysql",
        "DATABASE_URL-env-pg-default-driver",
        "url-unparsable",
        "unknown-option",
    ],
)
def test_bad_input_is_a_one_line_error_that_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    variables: dict[str, str],
    message: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(args)
    assert caught.value.code == 2
    *usage, error = capsys.readouterr().err.splitlines()  # argparse wraps the usage
    assert usage[0].startswith("usage: python -m reference_app ")
    assert error.startswith("python -m reference_app: error: ")
    assert message in error


def test_listening_socket_is_tcp_so_asyncio_disables_nagle() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is TCP; with proto 0 every
    keep-alive response waited ~40 ms for a delayed ACK (measured: 44 ms -> 2.5 ms per GET)."""
    import socket

    from reference_app.__main__ import bind

    with bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP
