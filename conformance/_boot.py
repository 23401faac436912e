"""Boot the reference app as a subprocess when no target URL is given.

The kit never imports ``reference_app``: it runs ``python -m reference_app`` on a free port and
reads the URL from the line the app logs once it serves.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

import httpx

_SERVING = re.compile(r"on (http://127\.0\.0\.1:\d+)")


class BootError(RuntimeError):
    """The reference app did not come up; the message carries its last output lines."""


class ServerProcess:
    """A server subprocess that logs ``... on http://127.0.0.1:PORT ...`` once it listens.

    Example::

        with ServerProcess([sys.executable, "-m", "my_server", "--port", "0"], tmp_path) as srv:
            httpx.get(srv.url + "/books")
    """

    def __init__(
        self,
        command: list[str],
        workdir: Path,
        timeout: float = 30.0,
        ready_path: str = "/books",
        drop_env: tuple[str, ...] = (),
    ) -> None:
        self.command = command
        self.drop_env = drop_env
        self.workdir = workdir
        self.timeout = timeout
        self.ready_path = ready_path
        self.url = ""
        self._output: deque[str] = deque(maxlen=40)
        self._process: subprocess.Popen[str] | None = None
        self._pump_thread: threading.Thread | None = None

    def start(self) -> str:
        command = self.command
        env = {k: v for k, v in os.environ.items() if k not in self.drop_env}
        env["PYTHONUNBUFFERED"] = "1"
        self._process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        found = threading.Event()
        pump_args = (self._process.stdout, found)
        self._pump_thread = threading.Thread(target=self._pump, args=pump_args, daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + self.timeout
        while not found.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BootError(
                    f"the server did not start (command: {' '.join(command)}); "
                    "its last output:\n" + "\n".join(self._output)
                )
        self._wait_ready(deadline)
        return self.url

    def _pump(self, stream: IO[str], found: threading.Event) -> None:
        for line in stream:
            self._output.append(line.rstrip())
            match = _SERVING.search(line)
            if match and not found.is_set():
                self.url = match.group(1)
                found.set()

    def _wait_ready(self, deadline: float) -> None:
        with httpx.Client(timeout=2.0) as client:
            while True:
                try:
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise BootError(
                        f"the server at {self.url} never answered GET {self.ready_path}"
                    )
                time.sleep(0.05)  # polling a readiness probe, bounded by the deadline

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reference_app_installed() -> bool:
    """Can ``python -m reference_app`` run here (the ``reference`` extra is installed)?"""
    return all(
        importlib.util.find_spec(name) is not None for name in ("reference_app", "responder")
    )


_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def mask(text: str) -> str:
    """``text`` with the password of every URL in it masked.

    Example: ``mask("postgresql://kit:s3cret@db/books")`` is ``"postgresql://kit:***@db/books"``.
    """
    return _PASSWORD.sub(r"\1***@", text)


def reference_app_process(workdir: Path, database_url: str | None = None) -> ServerProcess:
    """The reference app on a free port, on ``database_url`` or a new SQLite file in ``workdir``.

    The app gets its database only from the command line: ``DATABASE_URL`` (which the app would
    read as a fallback) is removed from its environment, so a user's database is never touched
    unless the kit was told to use it.
    """
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'books.db'}"
    command = [sys.executable, "-m", "reference_app", "--host", "127.0.0.1", "--port", "0"]
    return ServerProcess([*command, "--database-url", url], workdir, drop_env=("DATABASE_URL",))
