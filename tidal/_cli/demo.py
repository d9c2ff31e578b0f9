"""``python -m tidal demo``: an asyncio echo server and client on tidal's loop.

Plain asyncio code (``asyncio.start_server``, ``asyncio.open_connection``)
runs unchanged on tidal's loop; the demo prints each step and a short
round-trip measurement so a new user sees the loop working end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import tidal.loop

__all__ = ["add_parser", "run_demo"]


def add_parser(subparsers: Any) -> None:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="run an asyncio echo server and client on tidal's loop")
    parser.add_argument("--messages", type=int, default=1000, help="round trips to time (default 1000)")
    parser.add_argument("--port", type=int, default=0, help="server port on 127.0.0.1 (default: any free)")
    parser.set_defaults(handler=_handle)


def _handle(arguments: argparse.Namespace) -> int:
    tidal.loop.run(run_demo(arguments.messages, arguments.port))
    return 0


class _EchoHandler:
    """Echoes lines back and counts connections still being served.

    asyncio's server does not own its handler tasks (a 3.11 server's
    ``wait_closed`` returns before they finish), so the demo waits for
    ``idle`` itself instead of leaving tasks for ``run()`` to cancel.
    """

    def __init__(self) -> None:
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        self.idle.clear()
        try:
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()
            self.active -= 1
            if not self.active:
                self.idle.set()


async def run_demo(messages: int, port: int = 0, say: Any = print) -> None:
    """Start an echo server, talk to it, time ``messages`` round trips, shut down."""
    loop = asyncio.get_running_loop()
    say(f"event loop: {type(loop).__module__}.{type(loop).__qualname__}")
    handler = _EchoHandler()
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    host, bound_port = server.sockets[0].getsockname()[:2]
    say(f"echo server listening on {host}:{bound_port}")
    async with server:
        reader, writer = await asyncio.open_connection(host, bound_port)
        say(f"client connected from {writer.get_extra_info('sockname')[1]}")
        writer.write(b"hello, tidal\n")
        await writer.drain()
        say(f"sent b'hello, tidal\\n', received back {await reader.readline()!r}")
        started = time.perf_counter()
        for index in range(messages):
            writer.write(b"ping %d\n" % index)
            await writer.drain()
            if await reader.readline() != b"ping %d\n" % index:
                raise RuntimeError(f"echo {index} came back wrong")
        elapsed = time.perf_counter() - started
        if messages:
            say(f"{messages} round trips in {elapsed * 1000:.1f} ms " f"({elapsed / messages * 1e6:.1f} us each)")
        writer.close()
        await writer.wait_closed()
        await handler.idle.wait()
    say("server closed; every connection finished cleanly")
