"""Scripted HTTP peers for fault tests: asyncio servers on 127.0.0.1 (or ::1) port 0.

Each connection is handed to a script (an ``async def script(reader,
writer)``); the server owns the tasks it starts and cancels and awaits them
on exit, so no task outlives a test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """The next request head (up to the empty line), or b"" if the client closed."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The next request head, its body read and dropped (Content-Length or chunked); b"" at EOF."""
    head = await read_head(reader)
    lowered = head.lower()
    try:
        if b"transfer-encoding: chunked" in lowered:
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        elif b"content-length:" in lowered:
            length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return b""
    return head


class ScriptedServer:
    """``async with ScriptedServer(script) as server:`` -- ``server.url(path)``, ``server.accepted``."""

    def __init__(self, script: Script, host: str = "127.0.0.1") -> None:
        self._script = script
        self.host = host
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.accepted = 0
        self.port = 0

    def url(self, path: str = "/", scheme: str = "http") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self._script(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _ in range(3):  # let the aborted transports finish closing their sockets
            await asyncio.sleep(0)


def respond_forever(response: bytes) -> Script:
    """A keep-alive server answering every request with ``response``."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader):
            writer.write(response)
            await writer.drain()

    return script


def respond_once(response: bytes, *, then_close: bool = True) -> Script:
    """Answer the first request with ``response`` (raw bytes, maybe malformed), then close or idle."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await read_head(reader):
            return
        writer.write(response)
        await writer.drain()
        if then_close:
            writer.close()
            return
        await reader.read()

    return script
