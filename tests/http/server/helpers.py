"""A raw HTTP/1.1 client for server tests: bytes out, parsed responses in (h11 client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import h11

from tidal.http import Server, ServerLimits, ServerTimeouts, serve


@dataclass
class Reply:
    """One parsed response."""

    status: int
    headers: dict[str, str]
    body: bytes
    trailers: dict[str, str] = field(default_factory=dict)
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class RawClient:
    """A TCP connection that sends raw bytes and parses responses with h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = h11.Connection(h11.CLIENT)
        self.leftover = b""

    @classmethod
    async def connect(cls, server: Server) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        return cls(reader, writer)

    async def send(self, data: bytes, *, byte_by_byte: bool = False) -> None:
        """Send ``data`` whole or one byte per write (each drained)."""
        if not byte_by_byte:
            self.writer.write(data)
            await self.writer.drain()
            return
        for index in range(len(data)):
            self.writer.write(data[index : index + 1])
            await self.writer.drain()

    async def request(self, method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> Reply:
        """Send one request with Content-Length framing and read its response."""
        lines = [f"{method} {target} HTTP/1.1", "Host: test"]
        for name, value in headers or []:
            lines.append(f"{name}: {value}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return await self.response(head=method == "HEAD")

    async def response(self, *, head: bool = False) -> Reply:
        """Read the next response (pass ``head=True`` after a HEAD request)."""
        # A fresh h11 client per response, told the method (it frames HEAD
        # replies differently) and fed what the last one left unread.
        self.parser = h11.Connection(h11.CLIENT)
        self.parser.send(h11.Request(method="HEAD" if head else "GET", target="/", headers=[("Host", "x")]))
        self.parser.send(h11.EndOfMessage())
        if self.leftover:
            self.parser.receive_data(self.leftover)
            self.leftover = b""
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        body = bytearray()
        while True:
            event = self.parser.next_event()
            if event is h11.NEED_DATA:
                self.parser.receive_data(await self.reader.read(65536))
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = list(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                trailers = {name.decode(): value.decode() for name, value in event.headers}
                self.leftover = self.parser.trailing_data[0]
                return Reply(status, {n.decode(): v.decode() for n, v in headers}, bytes(body), trailers, headers)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("closed before a response")

    async def read_until_closed(self) -> bytes:
        """Everything the server still sends until it closes."""
        data = bytearray(self.leftover)
        self.leftover = b""
        while chunk := await self.reader.read(65536):
            data += chunk
        return bytes(data)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def parse_status(data: bytes) -> int:
    """The status code of the first response in ``data``."""
    assert data.startswith(b"HTTP/1.1 "), data[:80]
    return int(data[9:12])


@asynccontextmanager
async def running(app: Any, **options: Any) -> AsyncIterator[Server]:
    """A server on a free loopback port, closed (and awaited) on exit."""
    options.setdefault("access_log", False)
    server = await serve(app, "127.0.0.1", 0, **options)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


def short_timeouts(**overrides: float) -> ServerTimeouts:
    """Timeouts in fractions of a second for timeout tests."""
    values = dict(header_read=0.3, body_read=0.3, keep_alive=0.3, write=0.3, tls_handshake=1.0, shutdown_grace=1.0)
    values.update(overrides)
    return ServerTimeouts(**values)


__all__ = ["RawClient", "Reply", "parse_status", "running", "short_timeouts", "ServerLimits"]
