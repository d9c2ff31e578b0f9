"""ResponseWriter: puts one response on the wire through the engine.

Both front ends use it: the native adapter turns a returned
:class:`~tidal.http.Response` into calls, the ASGI adapter maps each
``send()`` message onto one.  The head is held back until the first body
piece (or the end) so a small response leaves in a single ``send_all``; every
later piece is sent before the next one is accepted (backpressure), with the
write timeout on each send.  A HEAD response keeps its framing headers and
drops the body bytes, as RFC 9110 §9.3.2 asks.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from collections.abc import Callable
from typing import BinaryIO, Protocol

from tidal.protocols.http import Data, EndOfMessage, HTTPConnection, InformationalResponse
from tidal.protocols.http import Response as WireResponse
from tidal.streams import ByteStream

from ._response import FileBody, reason_phrase

__all__ = ["ResponseWriter", "RawHeaders", "http_date"]

RawHeaders = list[tuple[bytes, bytes]]
# Large bodies go to the engine in slices so no single copy is huge.
_SLICE = 256 * 1024
# A file body goes to the kernel in slices of this size, each one under the
# write timeout, so a slow client is judged by its progress, not the file size.
_SENDFILE_SLICE = 4 * 1024 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_date_cache: tuple[int, bytes] = (0, b"")


def http_date(now: float | None = None) -> bytes:
    """The current time as an IMF-fixdate (``Date`` header), cached per second."""
    global _date_cache
    second = int(time.time() if now is None else now)
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True).encode("ascii"))
    return _date_cache[1]


def _data(piece: bytes | bytearray | memoryview) -> Data:
    return Data(data=piece)  # type: ignore[arg-type]  # h11 takes any bytes-like object


class SendWithDeadline(Protocol):
    """How the writer sends: the connection's ``send_all`` under its write timeout."""

    async def __call__(self, data: bytes) -> None: ...


class SendFileWithDeadline(Protocol):
    """The connection's ``send_file`` (``os.sendfile``) under its write timeout."""

    async def __call__(self, file: BinaryIO, offset: int, count: int) -> None: ...


class ResponseWriter:
    """Writes one response at a time; :meth:`begin` prepares it for the next request."""

    __slots__ = (
        "_engine", "_send", "_send_file", "_closing", "_is_head", "_force_close", "_pending",
        "started", "finished", "status", "sent_bytes",
    )

    def __init__(
        self,
        engine: HTTPConnection,
        send: SendWithDeadline,
        closing: Callable[[], bool],
        send_file: SendFileWithDeadline | None = None,
    ) -> None:
        self._engine = engine
        self._send = send
        self._send_file = send_file
        self._closing = closing
        self._is_head = False
        self._force_close = False
        self._pending = b""
        self.started = False
        """True once the response head has been handed to the engine."""
        self.finished = False
        """True once the whole response has been sent."""
        self.status = 0
        """The status of the response started, 0 before."""
        self.sent_bytes = 0
        """Body bytes sent (before transfer coding)."""

    def begin(self, *, is_head: bool, force_close: bool) -> None:
        """Reset for the next request.

        ``force_close`` adds ``Connection: close``, as does ``closing()``
        returning True when the head is built (the server began shutting down).
        """
        self._is_head = is_head
        self._force_close = force_close
        self._pending = b""
        self.started = self.finished = False
        self.status = 0
        self.sent_bytes = 0

    @property
    def drops_body(self) -> bool:
        """True when the response has no body on the wire (a HEAD request)."""
        return self._is_head

    @property
    def closes_connection(self) -> bool:
        """True when this response carries ``Connection: close`` added by the server."""
        return self._force_close

    async def send_continue(self) -> None:
        """Send ``100 Continue`` (the body-reading side calls this)."""
        await self._send(self._engine.send(InformationalResponse(status_code=100, headers=[], reason=b"Continue")))

    def _head(self, status: int, headers: RawHeaders, body_length: int | None, drop_length: bool = False) -> bytes:
        has_length = has_date = False
        for name, _ in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                has_length = True
            elif lowered == b"date":
                has_date = True
        if drop_length and has_length:
            headers = [(name, value) for name, value in headers if name.lower() != b"content-length"]
        elif not has_length and body_length is not None and status not in _NO_BODY_STATUSES:
            headers.append((b"content-length", b"%d" % body_length))
        if not has_date:
            headers.append((b"date", http_date()))
        if self._force_close or self._closing():
            self._force_close = True
            headers.append((b"connection", b"close"))
        try:
            event = WireResponse(status_code=status, headers=headers, reason=reason_phrase(status))
        except Exception as exc:  # the event's own validation: nothing was sent, a 500 still can be
            raise ValueError(f"invalid response head (status {status}): {exc}") from exc
        self.started = True
        self.status = status
        return self._engine.send(event)

    async def respond(self, status: int, headers: RawHeaders, body: bytes | bytearray | memoryview = b"") -> None:
        """Send a whole response: head, ``body`` (with Content-Length) and end, in one write."""
        engine = self._engine
        data = self._head(status, headers, len(body))
        if self._is_head or not body:
            data += engine.send(EndOfMessage())
            await self._send(data)
        elif len(body) <= _SLICE:
            await self._send(data + engine.send(_data(body)) + engine.send(EndOfMessage()))
        else:
            await self._send(data)
            await self._write_slices(memoryview(body))
            await self._send(engine.send(EndOfMessage()))
        self.sent_bytes = len(body)
        self.finished = True

    async def respond_with_file(self, status: int, headers: RawHeaders, body: FileBody) -> None:
        """Send a whole response whose body is a file region, by ``os.sendfile`` when possible.

        Without a ``send_file`` (TLS, other loops) or with nothing to send on
        the wire (``HEAD``, an empty region), the region is read in chunks
        and written like any streamed body.
        """
        count = body.count
        self._pending = self._head(status, headers, count)
        if self._send_file is None or self._is_head or not count:
            if not self._is_head:
                async for piece in body:
                    await self.write(piece)
            await self.end()
            return
        head, self._pending = self._pending, b""
        before, after = self._engine.send_passthrough(count)
        await self._send(head + before)
        with open(body.path, "rb", buffering=0) as file:
            offset, left = body.offset, count
            while left:
                # One write-timeout window per slice, as for streamed bodies.
                size = min(left, _SENDFILE_SLICE)
                await self._send_file(file, offset, size)
                offset += size
                left -= size
                self.sent_bytes += size
        await self._send(after + self._engine.send(EndOfMessage()))
        self.finished = True

    def start(self, status: int, headers: RawHeaders, *, trailers: bool = False) -> None:
        """Prepare a streamed response's head; it leaves with the first piece.

        Without ``Content-Length`` the body is chunked (HTTP/1.1) or delimited
        by closing (HTTP/1.0).  ``trailers`` drops any ``Content-Length`` so
        the body is chunked and trailer fields can follow it.
        """
        self._pending = self._head(status, headers, None, drop_length=trailers)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send one piece of a streamed body (held by nobody once this returns)."""
        if not data or self._is_head:
            return
        if self._pending:
            head, self._pending = self._pending, b""
            if len(data) <= _SLICE:
                await self._send(head + self._engine.send(_data(data)))
                self.sent_bytes += len(data)
                return
            await self._send(head)
        await self._write_slices(memoryview(data))

    async def _write_slices(self, view: memoryview) -> None:
        engine = self._engine
        for offset in range(0, len(view), _SLICE):
            piece = view[offset : offset + _SLICE]
            await self._send(engine.send(_data(piece)))
            self.sent_bytes += len(piece)

    async def end(self, trailers: RawHeaders | None = None) -> None:
        """Finish a streamed response, with trailer fields when the framing allows them."""
        if trailers and (self._is_head or self._engine.their_http_version != b"1.1"):
            trailers = None  # no chunked body (HEAD, HTTP/1.0), so nowhere to put trailers
        data = self._pending + self._engine.send(EndOfMessage(headers=trailers or []))
        self._pending = b""
        if data:
            await self._send(data)
        self.finished = True
