"""``python -m tidal demo``: the whole stack, end to end, on loopback.

Everything runs in one tidal loop and needs nothing but this machine:

1. the loop: plain asyncio code (``asyncio.start_server``,
   ``asyncio.open_connection``) runs unchanged; a short echo round trip is
   timed;
2. DNS: ``localhost`` is resolved by :mod:`tidal.dns` (hosts file, then the
   system's resolvers), not by libc in a thread;
3. files: a gzip log is written and read back line by line with
   ``tidal.open`` without blocking the loop;
4. HTTP: tidal's server serves that directory, and tidal's client fetches the
   log gzip-encoded and streams it as decoded text lines.

Each step prints what happened, so a new user sees every layer working.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import tidal

__all__ = ["add_parser", "run_demo"]


def add_parser(subparsers: Any) -> None:
    """Register the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="run tidal's loop, DNS, files, HTTP server and client on loopback")
    parser.add_argument("--messages", type=int, default=1000, help="echo round trips to time (default 1000)")
    parser.add_argument("--lines", type=int, default=20000, help="lines in the demo log (default 20000)")
    parser.add_argument("--port", type=int, default=0, help="echo server port on 127.0.0.1 (default: any free)")
    parser.set_defaults(handler=_handle)


def _handle(arguments: argparse.Namespace) -> int:
    tidal.run(run_demo(arguments.messages, arguments.port, lines=arguments.lines))
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


async def run_demo(messages: int, port: int = 0, say: Any = print, *, lines: int = 20000) -> None:
    """Run the four demo steps; ``say`` receives each line of the report."""
    loop = asyncio.get_running_loop()
    say(f"event loop: {type(loop).__module__}.{type(loop).__qualname__}")
    await _echo(messages, port, say)
    await _dns(say)
    with tempfile.TemporaryDirectory(prefix="tidal-demo-") as directory:
        log = Path(directory) / "app.txt"
        await _files(log, lines, say)
        await _http(Path(directory), log.name, lines, say)
    say("done: every server closed and every connection finished cleanly")


async def _echo(messages: int, port: int, say: Any) -> None:
    say("-- loop: asyncio streams echo")
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
            say(f"{messages} round trips in {elapsed * 1000:.1f} ms ({elapsed / messages * 1e6:.1f} us each)")
        writer.close()
        await writer.wait_closed()
        await handler.idle.wait()
    say("echo server closed")


async def _dns(say: Any) -> None:
    import tidal.dns

    say("-- dns: tidal.dns, no thread pool")
    resolver = tidal.dns.Resolver()
    infos = await resolver.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    addresses = ", ".join(str(info[4][0]) for info in infos)
    say(f"localhost -> {addresses}")
    loop_infos = await asyncio.get_running_loop().getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    say(f"loop.getaddrinfo('localhost') answered by tidal.dns: {len(loop_infos)} address(es)")


async def _files(log: Path, lines: int, say: Any) -> None:
    say("-- files: gzip text written and read without blocking the loop")
    records = [f"2026-11-29T12:00:{index % 60:02d} GET /item/{index} 200 é\n" for index in range(lines)]
    async with tidal.open(log.with_suffix(".txt.gz"), "wt", compression="gzip", encoding="utf-8") as out:
        for record in records:
            await out.write(record)
    async with tidal.open(log, "wt", encoding="utf-8") as out:  # the plain copy the HTTP step serves
        await out.write("".join(records))
    errors = 0
    started = time.perf_counter()
    async with tidal.open(log.with_suffix(".txt.gz"), "rt", compression="gzip", encoding="utf-8") as text:
        count = 0
        async for line in text:
            count += 1
            errors += not line.endswith(" 200 é\n")
    elapsed = time.perf_counter() - started
    say(f"{log.with_suffix('.txt.gz').name}: {count} lines read back in {elapsed * 1000:.1f} ms, {errors} malformed")


async def _http(directory: Path, name: str, lines: int, say: Any) -> None:
    import tidal.http

    say("-- http: tidal's server and client")
    server = await tidal.http.serve(tidal.http.StaticFiles(directory), "127.0.0.1", 0, access_log=False)
    say(f"static file server on {server.url}")
    try:
        async with tidal.http.Client() as client:
            async with client.stream("GET", f"{server.url}/{name}", headers={"Accept-Encoding": "gzip"}) as response:
                count = 0
                async for _line in response.iter_lines():
                    count += 1
                timing = response.timing
            say(
                f"GET /{name}: {response.status} {response.reason}, Content-Encoding: "
                f"{response.headers.get('content-encoding', 'identity')}, {count} of {lines} lines decoded "
                f"while streaming (connect {timing.connect * 1000:.1f} ms, first byte {timing.ttfb * 1000:.1f} ms)"
            )
            # A byte range of the stored file: asked for unencoded, since a
            # range applies to the representation the server sends.
            again = await client.get(
                f"{server.url}/{name}", headers={"Range": "bytes=0-18", "Accept-Encoding": "identity"}
            )
            reused = "the same kept-alive connection" if again.timing.connect == 0.0 else "a new connection"
            say(f"second request, a byte range, on {reused}: {again.status} {again.reason}, {again.content!r}")
    finally:
        server.close()
        await server.wait_closed()
    say("http server closed")
