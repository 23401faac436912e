"""Data hygiene on a live target: a full conformance run leaves rows it did not create
byte-identical and removes every row it created."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance._boot import reference_app_process

SEED = [
    {"title": "Seeded one", "author": "Someone Else", "year": 1, "isbn": None},
    {"title": "  untouchable  ", "author": "Ünïcödé", "year": -2147483648, "isbn": "x" * 32},
    {"title": "1", "author": "2", "year": 2147483647},
]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
    with reference_app_process(tmp_path) as app:
        yield app.url


def test_full_run_leaves_foreign_rows_untouched(target: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=target) as http:
        seeded = [http.post("/books", json=body).json()["id"] for body in SEED]
        # Ids around the seeded ones matter most: lax id parsing would land on them.
        before = {book_id: http.get(f"/books/{book_id}").content for book_id in seeded}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-p", "no:cacheprovider",
             "-q", "--base-url", target, "--conformance-profile", "quick"],
            cwd=tmp_path, capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "deleted all of them" in result.stdout
        after = {book_id: http.get(f"/books/{book_id}").content for book_id in seeded}
        listed = [book["id"] for book in http.get("/books").json()]
    assert after == before, "a conformance run changed rows it did not create"
    assert listed == seeded, f"rows the kit created remain: {sorted(set(listed) - set(seeded))}"
