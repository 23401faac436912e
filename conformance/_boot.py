"""Boot the reference app as a subprocess when no target URL is given.

The kit never imports ``reference_app``: it runs ``python -m reference_app`` on a free port and
reads the URL from the line the app logs once it serves.
"""

from __future__ import annotations

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


class ReferenceApp:
    """A reference app process serving on 127.0.0.1 (SQLite in ``workdir`` or ``database_url``).

    Example::

        with ReferenceApp(tmp_path) as app:
            httpx.get(app.url + "/books")
    """

    def __init__(self, workdir: Path, database_url: str | None = None, timeout: float = 30.0):
        self.workdir = workdir
        self.database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'books.db'}"
        self.timeout = timeout
        self.url = ""
        self._output: deque[str] = deque(maxlen=40)
        self._process: subprocess.Popen[str] | None = None
        self._pump_thread: threading.Thread | None = None

    def start(self) -> str:
        command = [sys.executable, "-m", "reference_app", "--host", "127.0.0.1", "--port", "0"]
        command += ["--database-url", self.database_url]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
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
                    f"the reference app did not start (command: {' '.join(command)}); "
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
                    if client.get(self.url + "/books").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise BootError(f"the reference app at {self.url} never answered GET /books")
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

    def __enter__(self) -> ReferenceApp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
