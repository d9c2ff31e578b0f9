"""``Request``: what a native handler receives, with a body read on demand.

Learning that the client went away (issue #7): once the body has been
received in full, :meth:`Request.wait_disconnected` and
:meth:`Request.is_disconnected` start a watch task that reads the connection
while the handler works and its response is sent.  The request's own bytes
are all in by then, so the watch steals nothing: bytes it receives are the
next pipelined request, handed to the engine, which keeps them for the next
cycle.  To keep that input bounded the watch stops reading once more than
:data:`WATCH_INPUT_LIMIT` bytes wait there; EOF or a connection error means
the client is gone (a client that only half-closes counts as gone, as ASGI
servers also report it).  The native front end stops the watch when the
response is over, before the connection reads the next request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from .._headers import Headers

__all__ = ["Request", "BodySource", "WATCH_INPUT_LIMIT"]

WATCH_INPUT_LIMIT = 64 * 1024
"""Pipelined bytes the disconnect watch lets pile up before it stops reading."""


class BodySource(Protocol):
    """Where a request's body comes from (the connection, or a test)."""

    @property
    def body_complete(self) -> bool:
        """True once the whole body (and its trailers) has been received."""

    @property
    def trailers(self) -> list[tuple[bytes, bytes]]:
        """The trailer fields of a chunked body, once complete."""

    async def next_body_chunk(self) -> bytes:
        """The next piece of the body; ``b""`` once the body has ended."""

    def body_ended(self) -> bool:
        """Whether the body is over, looking only at bytes already received."""

    async def wait_for_disconnect(self) -> bool:
        """After the body: read once; True if the client closed the connection."""

    @property
    def buffered_input(self) -> int:
        """Bytes received beyond the current request (pipelined) and not parsed yet."""


class Request:
    """One HTTP request, handed to ``async def handler(request) -> Response``.

    The head is parsed and validated before the handler runs; the body is not
    read until the handler asks for it (``async for chunk in
    request.stream()``, ``await request.read()``, ``await request.json()``),
    and only then does the server answer ``Expect: 100-continue``.  Reading
    the body can raise :class:`~tidal.protocols.http.HTTPRemoteProtocolError`
    (bad framing, 413 over the size limit) or
    :class:`~tidal.http.RequestTimeout` (408); letting either propagate makes
    the server answer with its ``status`` and close the connection.
    """

    __slots__ = (
        "method",
        "target",
        "http_version",
        "client",
        "server",
        "scheme",
        "_raw_headers",
        "_headers",
        "_source",
        "_body",
        "_streamed",
        "_watch",
        "_answered",
    )

    def __init__(
        self,
        method: str,
        target: bytes,
        raw_headers: Sequence[tuple[bytes, bytes]],
        source: BodySource,
        *,
        http_version: str = "1.1",
        client: tuple[str, int] | None = None,
        server: tuple[str, int] | None = None,
        scheme: str = "http",
    ) -> None:
        self.method = method
        """The request method, e.g. ``"GET"``."""
        self.target = target
        """The request target exactly as sent, e.g. ``b"/a%20b?x=1"``."""
        self.http_version = http_version
        """``"1.1"`` or ``"1.0"``."""
        self.client = client
        """The client's (host, port), when known."""
        self.server = server
        """The local (host, port) the request arrived on, when known."""
        self.scheme = scheme
        """``"http"`` or ``"https"``."""
        self._raw_headers = raw_headers  # made a list on first use: most handlers never look
        self._headers: Headers | None = None
        self._source = source
        self._body: bytes | None = None
        self._streamed = False
        self._watch: _DisconnectWatch | None = None
        self._answered = False

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target.decode('latin-1')!r}>"

    @property
    def headers(self) -> Headers:
        """The request's header fields (built on first access)."""
        if self._headers is None:
            self._headers = Headers(self.raw_headers)
        return self._headers

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The header fields as received: (lowercased name, value) byte pairs."""
        raw = self._raw_headers
        if not isinstance(raw, list):
            raw = self._raw_headers = list(raw)
        return raw

    @property
    def raw_path(self) -> bytes:
        """The path part of the target, still percent-encoded."""
        return self.target.partition(b"?")[0]

    @property
    def path(self) -> str:
        """The percent-decoded path (UTF-8, undecodable bytes replaced)."""
        return unquote(self.raw_path.decode("latin-1"), errors="replace")

    @property
    def query_string(self) -> bytes:
        """The raw query, without the ``?``."""
        return self.target.partition(b"?")[2]

    @property
    def query(self) -> list[tuple[str, str]]:
        """The query decoded into (name, value) pairs, in order."""
        return parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True)

    @property
    def trailers(self) -> Headers:
        """Trailer fields sent after a chunked body (empty until the body is read)."""
        return Headers(self._source.trailers)

    @property
    def body_complete(self) -> bool:
        """True once the whole body has been received."""
        return self._source.body_complete

    @property
    def body_source(self) -> BodySource:
        """Where the body comes from (front ends such as the ASGI adapter read it directly)."""
        return self._source

    def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives, piece by piece; the body can be streamed only once."""
        if self._body is not None:
            return _replay(self._body)
        if self._streamed:
            raise RuntimeError("the request body was already consumed by stream()")
        self._streamed = True
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self._source.next_body_chunk():
            yield chunk

    async def read(self) -> bytes:
        """The whole body (kept, so later calls return it again)."""
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.stream()])
        return self._body

    async def text(self, encoding: str = "utf-8") -> str:
        """The whole body decoded (``errors="replace"``)."""
        return (await self.read()).decode(encoding, errors="replace")

    async def json(self) -> Any:
        """The whole body parsed as JSON (``json.JSONDecodeError`` on bad input)."""
        return json.loads(await self.read())

    async def wait_disconnected(self) -> None:
        """Return once the client has closed the connection; cancel the wait to stop waiting.

        Usable while the handler does slow work and while its response body
        is produced.  The body must have been received in full first (read
        it, or it was empty): before that, reading the body is what detects
        a disconnect (it raises :class:`~tidal.http.ClientDisconnected`), so
        this raises ``RuntimeError``; so does a wait still pending, or
        begun, once the response is over (the connection then moves on to
        the next request).  If the client pipelines more than
        :data:`WATCH_INPUT_LIMIT` bytes of later requests meanwhile, watching
        stops and this waits until cancelled.
        """
        await asyncio.shield(self._start_watch("wait_disconnected()").outcome)

    async def is_disconnected(self) -> bool:
        """True if the client is known to have closed the connection.

        The first call starts the watch (see :meth:`wait_disconnected`) and
        lets it look once, so a close the OS has already reported is seen at
        once.  While part of the body is still unread, and after the response
        is over, this only says what is already known.
        """
        watch = self._watch
        if watch is None:
            if self._answered or not self._source.body_ended():
                return False
            watch = self._start_watch("is_disconnected()")
            await asyncio.sleep(0)  # the watch task takes its first look
        return watch.gone

    def _start_watch(self, caller: str) -> _DisconnectWatch:
        if self._watch is None:
            if self._answered:
                raise RuntimeError(f"{caller}: the response is over; the connection is no longer watched")
            if not self._source.body_ended():
                raise RuntimeError(f"{caller} needs the whole request body received first: read it")
            self._watch = _DisconnectWatch(self._source)
        return self._watch

    async def stop_watching(self) -> None:
        """End disconnect watching for good (the server calls this once the response is over)."""
        self._answered = True
        if self._watch is not None:
            await self._watch.stop()


class _DisconnectWatch:
    """A task reading the connection after the body until EOF (see the module docstring).

    ``outcome`` is set once the client is gone, or fails with
    ``RuntimeError`` if the watch is stopped first.
    """

    def __init__(self, source: BodySource) -> None:
        self._source = source
        self.gone = False
        self.outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while self._source.buffered_input <= WATCH_INPUT_LIMIT:
            if await self._source.wait_for_disconnect():
                self.gone = True
                self.outcome.set_result(None)
                return

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.exception()  # retrieved: a failed read only meant "gone"
        if not self.outcome.done():
            self.outcome.set_exception(RuntimeError("the response is over; the connection is no longer watched"))
            self.outcome.exception()  # retrieved here: nobody may be waiting


async def _replay(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body
