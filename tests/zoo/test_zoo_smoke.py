"""Smoke test of the zoo (not the conformance suite): the correct app follows the contract on a
round trip and on each choice branch it takes, and every mutant misbehaves on its own probe.

Most checks run in-process through ``httpx.ASGITransport``; the zoo server itself (and the
concurrency mutants, which need real concurrent connections) run as ``python -m tests.zoo`` on
127.0.0.1.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import select
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .__main__ import SERVED, VARIANTS, create_app, create_zoo_app, main
from .app import INT32_MAX, INT32_MIN, ASGIApp, BooksApp
from .mutants import DROP, MUTANTS, Hooked, Mutant, Probe, book_body, expected

ZOO = Path(__file__).parent
REPO = ZOO.parents[1]
REQUIREMENTS = REPO / "conformance" / "contract" / "requirements.toml"
JSON = {"content-type": "application/json"}
READY = re.compile(r"zoo: serving (\d+) variants on (http://127\.0\.0\.1:\d+)")


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://zoo.test")


async def run_probe(app: ASGIApp, probe: Probe) -> None:
    async with client_for(app) as c:
        await probe(c)


def assert_error(response: httpx.Response, status: int) -> None:
    """The correct app's error shape: ``{"error": str}`` as plain application/json."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body


# ================================================================================================
# The registry
# ================================================================================================
def test_registry_is_well_formed() -> None:
    known = {r["id"] for r in tomllib.loads(REQUIREMENTS.read_text())["requirement"]}
    names = [m.name for m in SERVED]
    assert len(MUTANTS) >= 28
    assert len(set(names)) == len(names)
    assert ("correct", *names) == VARIANTS
    for m in SERVED:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", m.name), m.name
        assert m.breaks in known, (m.name, m.breaks)
        assert set(m.also) <= known | {"*"} and m.breaks not in m.also, (m.name, m.also)
        assert issubclass(m.app_class, BooksApp) and m.app_class is not BooksApp, m.name
    assert len({m.app_class for m in SERVED}) == len(SERVED)


def test_zoo_is_independent_of_the_kit_and_the_reference_app() -> None:
    for path in sorted(ZOO.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & {"reference_app", "conformance"}, f"{path.name} imports {roots}"


def test_host_must_be_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--host", "0.0.0.0", "--port", "0"])
    assert exit_info.value.code == 2
    assert "loopback" in capsys.readouterr().err


# ================================================================================================
# The correct implementation
# ================================================================================================
def test_correct_round_trip() -> None:
    async def scenario() -> None:
        async with client_for(create_app()) as c:
            assert (await c.get("/books")).json() == []
            response = await c.post("/books", json=book_body())
            assert response.status_code == 201
            assert response.headers["content-type"] == "application/json"
            assert "location" not in response.headers  # the branch Responder does not take
            first = response.json()
            assert first == {"id": 1, **book_body()}
            second = (await c.post("/books", json=book_body(title="B", isbn=DROP))).json()
            assert second == expected(book_body(title="B", isbn=DROP), 2)
            listed = await c.get("/books?page=2&sort=-id")
            assert (listed.status_code, listed.json()) == (200, [first, second])
            assert (await c.get("/books/1")).json() == first
            head = await c.head("/books/1")
            assert head.status_code == 200 and head.content == b""
            compact = json.dumps(first, separators=(",", ":"))
            assert int(head.headers["content-length"]) == len(compact)

            body = book_body(title="Dune Messiah", year=-5, isbn=DROP)
            replaced = await c.put("/books/1", json=body)
            assert (replaced.status_code, replaced.json()) == (200, expected(body, 1))
            assert (await c.get("/books/1")).json() == expected(body, 1)

            deleted = await c.delete("/books/2")
            assert (deleted.status_code, deleted.content) == (204, b"")
            assert "content-type" not in deleted.headers
            assert_error(await c.get("/books/2"), 404)
            assert_error(await c.delete("/books/2"), 404)
            assert_error(await c.put("/books/2", json=book_body()), 404)
            assert_error(await c.get("/books/2"), 404)
            third = (await c.post("/books", json=book_body())).json()
            assert third["id"] == 3, "ids are never reused"
            assert [b["id"] for b in (await c.get("/books")).json()] == [1, 3]

    asyncio.run(scenario())


async def _streamed(size: int) -> AsyncIterator[bytes]:
    chunk = b"x" * 65536
    for _ in range(size // len(chunk) + 1):
        yield chunk


def typed(content: bytes, content_type: str) -> dict[str, Any]:
    return {"content": content, "headers": {"content-type": content_type}}


def _branches() -> list[Any]:
    over = b"x" * (1024 * 1024 + 1)
    valid = json.dumps(book_body()).encode()
    cases: list[tuple[str, str, str, dict[str, Any], int]] = [
        ("well-formed-invalid-is-400", "POST", "/books", {"json": book_body(year="1999")}, 400),
        ("malformed-is-400", "POST", "/books", {"content": b"{", "headers": JSON}, 400),
        ("unknown-member", "POST", "/books", {"json": {**book_body(), "genre": "sf"}}, 400),
        ("client-id-on-post", "POST", "/books", {"json": {**book_body(), "id": 99}}, 400),
        ("client-id-on-put", "PUT", "/books/1", {"json": {**book_body(), "id": 1}}, 400),
        ("text-plain", "POST", "/books", typed(valid, "text/plain"), 201),
        ("form", "POST", "/books", typed(valid, "application/x-www-form-urlencoded"), 201),
        ("json-latin-1", "POST", "/books", typed(valid, "application/json; charset=latin-1"), 415),
        ("text-plain-put", "PUT", "/books/1", typed(valid, "text/plain"), 200),
        ("patch-collection", "PATCH", "/books", {"json": book_body()}, 405),
        ("post-item", "POST", "/books/1", {"json": book_body()}, 405),
        ("options-item", "OPTIONS", "/books/1", {}, 405),
        ("over-1mib-declared", "POST", "/books", {"content": over, "headers": JSON}, 413),
        ("over-1mib-streamed", "POST", "/books", {"content": "stream", "headers": JSON}, 413),
        ("over-1mib-put", "PUT", "/books/1", {"content": over, "headers": JSON}, 413),
        ("unknown-path", "GET", "/authors", {}, 404),
        ("trailing-slash", "GET", "/books/", {}, 404),
        ("nested-path", "GET", "/books/1/reviews", {}, 404),
    ]
    for bad in (
        "abc",
        "0",
        "-1",
        "1.5",
        "2^64",
        str(2**64),
        str(2**63),
        "01",
        "+1",
        "1e3",
        "%00",
        "%E2%98%83",
        "9" * 100,
        "%20%201",
    ):
        for method in ("GET", "PUT", "DELETE"):
            kwargs = {"json": book_body()} if method == "PUT" else {}
            cases.append((f"bad-id-{bad}-{method}", method, f"/books/{bad}", kwargs, 400))
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), _branches())
def test_correct_takes_the_other_branch(
    method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    """400 (never 422), plain JSON errors, unknown members and client ids rejected, bad path ids
    400, other types read as JSON, 405 with Allow, 413 over 1 MiB; the store stays unchanged."""

    async def scenario() -> None:
        async with client_for(create_app()) as c:
            await c.post("/books", json=book_body())
            before = (await c.get("/books")).json()
            if kwargs.get("content") == "stream":
                kwargs["content"] = _streamed(1024 * 1024 + 1)
            response = await c.request(method, path, **kwargs)
            if status < 400:  # another content type, read as JSON
                assert response.status_code == status, response.text
                return
            assert_error(response, status)
            if status == 405:
                allowed = "GET, HEAD, POST" if path == "/books" else "GET, HEAD, PUT, DELETE"
                assert response.headers["allow"] == allowed
            assert (await c.get("/books")).json() == before

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'Application/JSON; charset="utf-8"',
    ],
)
def test_correct_accepts_json_content_types(content_type: str | None) -> None:
    async def scenario() -> None:
        async with client_for(create_app()) as c:
            headers = {} if content_type is None else {"content-type": content_type}
            raw = json.dumps(book_body()).encode()
            assert (await c.post("/books", content=raw, headers=headers)).status_code == 201
            assert (await c.put("/books/1", content=raw, headers=headers)).status_code == 200

    asyncio.run(scenario())


INVALID_MEMBERS: list[tuple[str, Any]] = [
    ("title", DROP),
    ("title", ""),
    ("title", "x" * 501),
    ("title", "\U0001d518" * 501),
    ("title", "nul\x00"),
    ("title", 42),
    ("title", None),
    ("title", ["a"]),
    ("title", True),
    ("author", DROP),
    ("author", ""),
    ("author", "\x00"),
    ("author", {"name": "a"}),
    ("year", DROP),
    ("year", "1999"),
    ("year", True),
    ("year", False),
    ("year", 1999.5),
    ("year", 1999.0),
    ("year", INT32_MAX + 1),
    ("year", INT32_MIN - 1),
    ("year", 2**63),
    ("year", 2**64),
    ("year", None),
    ("year", [1999]),
    ("year", 1e300),
    ("isbn", ""),
    ("isbn", "1" * 33),
    ("isbn", "978\x00"),
    ("isbn", 9780000000002),
    ("isbn", True),
    ("isbn", ["1"]),
]


def raw_book(title: bytes = b'"a"', year: bytes = b"1", tail: bytes = b"") -> bytes:
    """A raw JSON text for a book, to smuggle in what ``json.dumps`` cannot produce."""
    return b'{"title": ' + title + b', "author": "b", "year": ' + year + tail + b"}"


INVALID_RAW = [
    b"",
    b"   ",
    b"[]",
    b'"a book"',
    b"42",
    b"null",
    b"true",
    b"{",
    b'{"title": "Dune", "author": ',
    b"{title: 'Dune'}",
    raw_book(year=b"NaN"),
    raw_book(year=b"Infinity"),
    raw_book() + b" x",
    raw_book(title=b'"bad \xff\xfe"'),
    b"\xef\xbb\xbf" + raw_book(),
    raw_book(title=b'"\\ud800"'),
    raw_book(title=b'"a\\udc00"'),
    raw_book(title=b'"\\udd1e\\ud834"'),
    raw_book(tail=b', "\\ud800": 1'),
    raw_book(tail=b', "title": "again"'),
    raw_book(year=b"1e400"),
    raw_book(year=b"9" * 5000),
    b"[" * 100_000,
    b'{"a":' * 50_000,
]


def _invalid_bodies() -> list[Any]:
    params = []
    for name, value in INVALID_MEMBERS:
        raw = json.dumps(book_body(**{name: value})).encode()
        params.append(pytest.param(raw, id=f"{name}={str(value)[:12]!r}"))
    params += [pytest.param(raw, id=f"raw-{raw[:24]!r}") for raw in INVALID_RAW]
    return params


@pytest.mark.parametrize("raw", _invalid_bodies())
def test_correct_rejects_invalid_bodies(raw: bytes) -> None:
    async def scenario() -> None:
        async with client_for(create_app()) as c:
            book = (await c.post("/books", json=book_body())).json()
            for method, path in (("POST", "/books"), ("PUT", "/books/1")):
                assert_error(await c.request(method, path, content=raw, headers=JSON), 400)
            assert (await c.get("/books")).json() == [book]

    asyncio.run(scenario())


VALID_EDGES: list[dict[str, Any]] = [
    {"title": "x"},
    {"title": "t" * 500},
    {"author": "\U0001d518" * 500},
    {"title": " \t "},
    {"year": INT32_MIN},
    {"year": INT32_MAX},
    {"year": 0},
    {"year": -0},
    {"isbn": DROP},
    {"isbn": None},
    {"isbn": "1"},
    {"isbn": "9" * 32},
    {"title": "  Dune  ", "author": "line one\nline two\ttabbed\r\n"},
    {"title": "Cafe\u0301 Noe\u0308l", "author": "Caf\u00e9 No\u00ebl"},
    {"title": "\ufb01nance \uff46\uff55\uff4c\uff4c \u2460"},
    {"author": "a\u200bb\u2028c\u00a0d\ufeff"},
    {"title": "McDonald's iPhone \u00c9COLE", "author": "\u05e9\u05dc\u05d5\u05dd \U0001f4da"},
    {"title": '<script>alert(1)</script> &amp; \\ "q" %s {}'},
    {"isbn": "\U0001f468\u200d\U0001f469"},
]


@pytest.mark.parametrize("changes", VALID_EDGES, ids=lambda c: repr(c)[:40])
def test_correct_stores_valid_edges_exactly(changes: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with client_for(create_app()) as c:
            body = book_body(**changes)
            created = await c.post("/books", json=body)
            assert (created.status_code, created.json()) == (201, expected(body, 1))
            assert (await c.get("/books/1")).json() == expected(body, 1)
            replaced = await c.put("/books/1", json=body)
            assert (replaced.status_code, replaced.json()) == (200, expected(body, 1))
            assert (await c.get("/books")).json() == [expected(body, 1)]

    asyncio.run(scenario())


def test_correct_decodes_surrogate_pairs() -> None:
    async def scenario() -> None:
        async with client_for(create_app()) as c:
            raw = b'{"title": "\\ud834\\udd1e", "author": "b", "year": 1}'
            created = await c.post("/books", content=raw, headers=JSON)
            assert (created.status_code, created.json()["title"]) == (201, "\U0001d11e")

    asyncio.run(scenario())


def test_correct_never_answers_5xx_to_odd_requests() -> None:
    odd: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/books", {"headers": {"accept": "text/html"}}),
        ("GET", "/books/1", {"content": b"{}", "headers": JSON}),
        ("GET", "/", {}),
        ("HEAD", "/books", {}),
        ("TRACE", "/books", {}),
        ("POST", "/books", {"content": b"\x00\x01\x02", "headers": JSON}),
        ("POST", "/books", {"content": b"{}", "headers": {"content-length": "9" * 30}}),
        ("POST", "/books", {"content": b"{}", "headers": {"content-type": ";;;=="}}),
        ("PUT", "/books/1", {"content": b'{"year": 1e400}', "headers": JSON}),
        ("DELETE", "/books/1?cascade=true", {}),
    ]

    async def scenario() -> None:
        async with client_for(create_app()) as c:
            await c.post("/books", json=book_body())
            for method, path, kwargs in odd:
                response = await c.request(method, path, **kwargs)
                assert response.status_code < 500, (method, path, response.status_code)
                if response.status_code >= 400:
                    assert isinstance(response.json(), dict)

    asyncio.run(scenario())


def test_correct_concurrent_creates_in_process() -> None:
    async def scenario() -> None:
        async with client_for(create_app()) as c:
            creates = [c.post("/books", json=book_body()) for _ in range(64)]
            responses = await asyncio.gather(*creates)
            ids = sorted(r.json()["id"] for r in responses)
            assert ids == list(range(1, 65))

    asyncio.run(scenario())


# ================================================================================================
# The mutants, in-process: each probe passes on the correct app and fails on its mutant
# ================================================================================================
SEQUENTIAL = [m for m in MUTANTS if not m.needs_server]
CONCURRENT = [m for m in MUTANTS if m.needs_server]


@pytest.mark.parametrize("mutant", SEQUENTIAL, ids=lambda m: m.name)
def test_mutant_misbehaves_on_its_probe(mutant: Mutant) -> None:
    asyncio.run(run_probe(create_app(), mutant.probe))
    with pytest.raises(AssertionError):
        asyncio.run(run_probe(create_app(mutant.name), mutant.probe))


def test_mutants_pass_the_probes_of_rules_they_do_not_break() -> None:
    """Each mutant breaks only its own rule(s): every other mutant's probe passes on it."""

    async def scenario() -> list[str]:
        failures = []
        for target in MUTANTS:
            if "*" in target.also:
                continue
            for other in SEQUENTIAL:
                if other.breaks in target.requirements:
                    continue
                try:
                    await run_probe(create_app(target.name), other.probe)
                except AssertionError as error:
                    failures.append(f"{target.name} fails the {other.breaks} probe: {error}")
        return failures

    failures = asyncio.run(scenario())
    assert not failures, "\n".join(failures)


# ================================================================================================
# The zoo server (python -m tests.zoo) and the concurrency mutants
# ================================================================================================
def _read_ready_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"the zoo printed nothing within {timeout}s"
    return process.stdout.readline().decode().strip()


@contextmanager
def serve(*args: str, log: Path) -> Iterator[tuple[int, str]]:
    """Run ``python -m tests.zoo`` on a free port; yield (variant count, base URL)."""
    command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0", *args]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr)
        try:
            line = _read_ready_line(process, timeout=30)
            match = READY.fullmatch(line)
            assert match, f"unexpected ready line {line!r}; log: {log.read_text()[-2000:]}"
            yield int(match[1]), match[2]
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdout is not None
            rest = process.stdout.read()
            process.stdout.close()
            assert rest == b"", f"the zoo printed more than its ready line: {rest[:200]!r}"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of ``python -m tests.zoo`` serving every variant."""
    log = tmp_path_factory.mktemp("zoo") / "zoo.log"
    with serve(log=log) as (count, base_url):
        assert count == len(VARIANTS)
        yield base_url


def test_zoo_serves_every_variant_with_its_own_store(zoo: str) -> None:
    with httpx.Client(base_url=zoo, timeout=10) as c:
        assert [v["name"] for v in c.get("/").json()["variants"]] == list(VARIANTS)
        assert c.post("/correct/books", json=book_body()).status_code == 201
        assert c.post("/create-200/books", json=book_body()).status_code == 200
        assert c.get("/create-200/books").json()[0]["id"] == 1, "stores are independent"
        assert c.get("/strings-nfc/books").json() == []
        assert_error(c.get("/no-such-variant/books"), 404)
        assert_error(c.get("/correct"), 404)


def test_create_zoo_app_routes_by_prefix() -> None:
    async def scenario() -> None:
        async with client_for(create_zoo_app()) as c:
            for name in VARIANTS:
                assert (await c.get(f"/{name}/books")).status_code == (
                    500 if name == "always-500" else 200
                )

    asyncio.run(scenario())


@pytest.mark.parametrize("mutant", CONCURRENT, ids=lambda m: m.name)
def test_concurrency_mutant_misbehaves_within_its_attempts(zoo: str, mutant: Mutant) -> None:
    """A race shows only if the burst overlaps at the server, which the scheduler decides: the
    mutant must show it in at least one of ``mutant.attempts`` runs (P(all miss) < 1e-6, see
    docs/race-rates.md), stopping at the first. The correct app passes every run: a certainty."""

    async def probe(variant: str) -> None:
        async with httpx.AsyncClient(base_url=f"{zoo}/{variant}", timeout=30) as c:
            await mutant.probe(c)

    assert mutant.attempts >= 1
    for _attempt in range(mutant.attempts):
        asyncio.run(probe("correct"))
        try:
            asyncio.run(probe(mutant.name))
        except AssertionError:
            return
    pytest.fail(f"{mutant.name} passed its probe {mutant.attempts} times in a row")


def test_only_race_mutants_get_attempts() -> None:
    for m in MUTANTS:
        assert (m.attempts > 1) == m.needs_server, (m.name, m.attempts)


def test_race_hooks_never_hold_sequential_traffic() -> None:
    """A race mutant's hooks hold a request only while another is in flight: sequential traffic
    pays its round trips and nothing more, and sees the correct behaviour."""

    async def scenario(app: Hooked) -> None:
        async with client_for(app) as c:
            for _ in range(5):
                book = (await c.post("/books", json=book_body())).json()
                assert (await c.put(f"/books/{book['id']}", json=book_body())).status_code == 200
                assert (await c.get(f"/books/{book['id']}")).json() == expected(
                    book_body(), book["id"]
                )
                assert (await c.delete(f"/books/{book['id']}")).status_code == 204
                assert (await c.get(f"/books/{book['id']}")).status_code == 404
            assert [b["id"] for b in (await c.get("/books")).json()] == []

    for m in CONCURRENT:
        app = create_app(m.name)
        assert isinstance(app, Hooked), m.name
        asyncio.run(scenario(app))
        assert app.store.hook.holds == 0, m.name


def test_only_serves_one_variant_at_the_root(tmp_path: Path) -> None:
    with serve("--only", "create-200", log=tmp_path / "only.log") as (count, base_url):
        assert count == 1
        with httpx.Client(base_url=base_url, timeout=10) as c:
            assert c.post("/books", json=book_body()).status_code == 200
            assert c.get("/books").json()[0]["id"] == 1
