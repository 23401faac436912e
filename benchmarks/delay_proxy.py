"""A TCP proxy that delays every byte by a fixed one-way time in each direction (no bandwidth
limit), to measure the kit against a far target on one machine.

Usage: ``python benchmarks/delay_proxy.py --target 127.0.0.1:8000 --delay-ms 10 [--port 0]``

Listens on 127.0.0.1 only; once listening it prints one line, ``proxy: listening on
http://127.0.0.1:PORT``. A round trip through it takes ``2 * delay`` more than without. Data
keeps its order: each chunk read is written out ``delay`` after it was read (the chunks of one
direction queue behind each other, as on a wire of unlimited bandwidth).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived, then pass
    the end of the stream on. When the other side stops taking data (a server that answered
    early and closed), the rest is read and dropped, so the answer still comes through."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        broken = False
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if broken:
                continue
            try:
                writer.write(chunk)
                await writer.drain()
            except OSError:
                broken = True
        if not broken:
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()

    delivering = asyncio.create_task(deliver())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, chunk))
    except OSError:
        pass
    queue.put_nowait((time.monotonic() + delay, b""))
    await delivering


async def serve(target: tuple[str, int], delay: float, port: int = 0) -> asyncio.Server:
    """Start the proxy on 127.0.0.1:``port`` (0: a free port) in the running loop."""

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        upstream = asyncio.create_task(_pipe(client_r, server_w, delay))
        await _pipe(server_r, client_w, delay)  # the server is done: so is the connection
        client_w.close()
        await asyncio.gather(upstream, return_exceptions=True)
        server_w.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def _main(target: tuple[str, int], delay: float, port: int) -> None:
    server = await serve(target, delay, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"proxy: listening on http://127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay per direction")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main((host, int(port)), args.delay_ms / 1000, args.port))


if __name__ == "__main__":
    main()
