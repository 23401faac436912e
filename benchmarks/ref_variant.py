"""The reference app with one server setting changed, for measuring that setting.

``python benchmarks/ref_variant.py --http h11 --database-url URL --port P`` serves
``reference_app.create_app`` in one process exactly as ``python -m reference_app`` does (same
limits, uvloop, migrated first) but on uvicorn's h11 protocol (bounded by
``h11_max_incomplete_event_size``) instead of the bounded httptools protocol;
its access log is off unless ``--access-log`` (as for every target of ``benchmarks/load.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
import uvloop

from reference_app.app import create_app
from reference_app.database import prepare_url
from reference_app.server import MAX_HEAD_BYTES, uvicorn_options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http", choices=["httptools", "h11"], default="httptools")
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args()
    asyncio.run(prepare_url(args.database_url, migrate=True))
    options: dict[str, Any] = uvicorn_options()
    if args.http == "h11":
        options["http"] = "h11"
        options["h11_max_incomplete_event_size"] = MAX_HEAD_BYTES
    config = uvicorn.Config(
        create_app(args.database_url, prepare=False),
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        access_log=args.access_log,
        **options,
    )
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(uvicorn.Server(config).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
