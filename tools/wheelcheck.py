"""Install the kit as README.md says, outside the checkout, and run it against a local server.

Usage: ``python -m tools.wheelcheck`` (tox env ``wheel``).

1. Copies the checkout's files (tracked or not ignored) to a temporary directory.
2. Runs README's install blocks there verbatim (``<!-- install:kit -->`` and, later,
   ``<!-- install:reference -->``): build the wheel, a fresh venv, the kit alone.
3. With the kit alone: ``books-conformance URL`` and ``pytest --pyargs conformance --base-url
   URL`` judge the zoo's correct implementation (pass) and a mutant (fail); with no URL the kit
   prints a one-line hint about the ``reference`` extra.
4. With ``[reference]`` installed too: ``books-conformance`` with no URL boots the reference app.

Prints the size of both installs. Exits 1 with the failing step on any surprise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"<!-- install:(\w+) -->\s*```(?:bash)?\n(.*?)```", re.S)
QUICK = ["--conformance-profile", "quick", "-q"]


class Failed(Exception):
    """A step did not do what README promises."""


def readme_blocks() -> dict[str, str]:
    """README's install blocks by name (``kit``, ``reference``)."""
    blocks = dict(BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    missing = {"kit", "reference"} - set(blocks)
    if missing:
        raise Failed(f"README.md lacks the install block(s) {sorted(missing)}")
    return blocks


def copy_checkout(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run(command: list[str] | str, cwd: Path, want: int | None = 0, **env: str) -> str:
    shell = isinstance(command, str)
    shown = command if shell else " ".join(command)
    print(f"wheelcheck: $ {shown}", flush=True)
    result = subprocess.run(
        ["bash", "-e", "-c", command] if shell else command,
        cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    output = result.stdout + result.stderr
    if want is not None and result.returncode != want:
        raise Failed(f"{shown} exited {result.returncode}, want {want}:\n{output[-3000:]}")
    return output


def size(venv: Path) -> str:
    site = next(venv.glob("lib/python3*/site-packages"))
    total = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
    packages = len(list(site.glob("*.dist-info"))) - 1  # not counting pip
    return f"{packages} packages, {total / 2**20:.0f} MB"


class Zoo:
    """``python -m tests.zoo`` from the checkout on a free port of 127.0.0.1."""

    def __enter__(self) -> str:
        command = [sys.executable, "-m", "tests.zoo", "--host", "127.0.0.1", "--port", "0"]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            raise Failed(f"the zoo did not start: {line!r}")
        url = match.group(1)
        deadline = time.monotonic() + 30
        while True:  # bounded: the zoo prints its line once it listens
            try:
                urllib.request.urlopen(f"{url}/correct/books", timeout=5).close()
                return url
            except OSError:
                if time.monotonic() > deadline:
                    raise Failed("the zoo does not answer") from None

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def check(work: Path, blocks: dict[str, str]) -> list[str]:
    source = work / "src"
    source.mkdir()
    copy_checkout(source)
    run(blocks["kit"], source)
    venv = source / "kit"
    kit_size = size(venv)
    bin_dir = venv / "bin"
    elsewhere = work / "run"  # not the source tree: `conformance` must come from the wheel
    elsewhere.mkdir()
    with Zoo() as zoo:
        run([str(bin_dir / "books-conformance"), f"{zoo}/correct", *QUICK], elsewhere)
        pytest_run = [str(bin_dir / "pytest"), "--pyargs", "conformance", "-p", "no:cacheprovider"]
        run([*pytest_run, "--base-url", f"{zoo}/correct", *QUICK], elsewhere)
        run([str(bin_dir / "books-conformance"), f"{zoo}/create-200", *QUICK], elsewhere, want=1)
    hint = run([str(bin_dir / "books-conformance"), *QUICK], elsewhere, want=4)
    if "pip install 'books-conformance[reference]'" not in hint:
        raise Failed(f"no install hint without a URL and without the reference app:\n{hint}")
    run(f". kit/bin/activate\n{blocks['reference']}", source)
    full_size = size(venv)
    booted = run([str(bin_dir / "books-conformance"), *QUICK, "-k", "create_returns"], elsewhere)
    if "the bundled reference app on a temporary SQLite file" not in booted:
        raise Failed(f"the reference app was not booted:\n{booted}")
    return [f"the kit alone: {kit_size}", f"with [reference]: {full_size}"]


def main() -> int:
    try:
        blocks = readme_blocks()
        with tempfile.TemporaryDirectory(prefix="wheelcheck-") as work:
            for line in check(Path(work), blocks):
                print(f"wheelcheck: {line}")
    except Failed as error:
        print(f"wheelcheck: FAILED: {error}", file=sys.stderr)
        return 1
    print("wheelcheck: OK: README's install lines work, outside the checkout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
