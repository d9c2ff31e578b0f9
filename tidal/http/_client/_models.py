"""``ClientRequest`` and ``ClientResponse``: what the client sends and what it hands back.

A response's body is pulled on demand from a :class:`BodySource` (the pooled
connection under the request's deadlines) through the content decoder.  The
body can be read whole (:meth:`ClientResponse.read`, ``text``, ``json``) or
streamed once (``iter_bytes``, ``iter_raw``, ``iter_text``, ``iter_lines``);
the connection returns to the pool when the body has been read to its end,
and is closed when the response is closed earlier.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import warnings
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from ...streams._queue_iter import iterate_queue
from ...protocols.text import LineDecoder, TextDecoder, TextError, charset_from_content_type
from .._headers import Headers, HeadersLike
from ._body import BodyContent, FileSpec, FormData, RequestBody, encode_request_body
from ._decoding import BodyDecoder
from ._errors import DecodingError, HTTPStatusError, ResponseConsumed
from ._urls import URL, QueryParams, parse_url

__all__ = ["ClientRequest", "ClientResponse", "Timing", "BodySource", "sets_cookies"]

_SET_COOKIE = (b"set-cookie", b"set-cookie2")
_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content", 301: "Moved Permanently",
    302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


def sets_cookies(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    """True if some received field is ``Set-Cookie`` or ``Set-Cookie2`` (any case)."""
    for name, _ in raw_headers:
        if (len(name) == 10 or len(name) == 11) and name.lower() in _SET_COOKIE:
            return True
    return False


class ClientRequest:
    """An HTTP request to send: method, absolute URL, headers and an optional body.

    The body is one of ``content`` (bytes, str, a binary file, an iterable
    or async iterable of bytes), ``data`` (a form, URL-encoded; multipart
    with ``files``), ``json`` (any JSON-serializable value).
    """

    __slots__ = ("method", "url", "headers", "body")

    def __init__(
        self,
        method: str,
        url: str | URL,
        *,
        params: QueryParams | None = None,
        headers: HeadersLike | None = None,
        content: BodyContent | None = None,
        data: FormData | None = None,
        json: Any = None,
        files: Mapping[str, FileSpec] | None = None,
    ) -> None:
        self.method = method.upper()
        self.url: URL = parse_url(url, params=params)
        self.headers = Headers(headers)
        body_headers, self.body = encode_request_body(content, data, json, files)
        for name, value in body_headers:
            if name not in self.headers:
                self.headers[name] = value

    def __repr__(self) -> str:
        return f"<ClientRequest {self.method} {self.url}>"

    @classmethod
    def from_parts(
        cls,
        method: str,
        url: URL,
        headers: Headers,
        *,
        content: BodyContent | None = None,
        data: FormData | None = None,
        json: Any = None,
        files: Mapping[str, FileSpec] | None = None,
    ) -> ClientRequest:
        """A request that takes ownership of an already parsed URL and ``headers`` (no copies)."""
        request = cls.__new__(cls)
        request.method, request.url, request.headers = method.upper(), url, headers
        request.body = None
        if content is not None or data is not None or json is not None or files:
            body_headers, request.body = encode_request_body(content, data, json, files)
            for name, value in body_headers:
                if name not in headers:
                    headers[name] = value
        return request

    @classmethod
    def derived(cls, method: str, url: URL, headers: Headers, body: RequestBody | None) -> ClientRequest:
        """A request built from parts (redirects and retries)."""
        request = cls.__new__(cls)
        request.method, request.url, request.headers, request.body = method, url, headers, body
        return request


@dataclass(slots=True)
class Timing:
    """Where the time went, in seconds.

    ``dns``, ``connect`` and ``tls`` are zero when a pooled connection was
    reused; ``pool`` is the wait for a connection slot; ``ttfb`` runs from the
    start of the request to the first byte of the response head; ``total``
    until the body was consumed or the response closed (None before).
    """

    dns: float = 0.0
    connect: float = 0.0
    tls: float = 0.0
    pool: float = 0.0
    ttfb: float = 0.0
    total: float | None = None


class BodySource(Protocol):
    """Where a response body comes from (a pooled connection, or memory)."""

    @property
    def trailers(self) -> Headers:
        """The trailer fields, once :meth:`next_chunk` returned None."""

    async def next_chunk(self) -> bytes | None:
        """The next transfer-decoded piece of the body; None at its end."""

    async def aclose(self) -> None:
        """Stop reading; the connection is closed unless the body was complete."""


class _EmptySource:
    trailers = Headers()

    async def next_chunk(self) -> bytes | None:
        return None

    async def aclose(self) -> None:
        return None


class ClientResponse:
    """A response: status, headers and a body read on demand.

    Use it as an async context manager (or call :meth:`aclose`) when
    streaming with ``client.stream(...)``; responses from ``client.get()``
    and friends are already read and closed.
    """

    def __init__(
        self,
        status: int,
        headers: HeadersLike,
        *,
        reason: str = "",
        http_version: str = "HTTP/1.1",
        request: ClientRequest | None = None,
        url: URL | None = None,
        source: BodySource | None = None,
        decoder: BodyDecoder | None = None,
        timing: Timing | None = None,
        content: bytes | None = None,
    ) -> None:
        self.status = status
        self.reason = reason or _REASONS.get(status, "")
        self.http_version = http_version
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers: Headers | None = headers if isinstance(headers, Headers) else Headers(headers)
        self._sets_cookies = True  # unknown: let the cookie jar look
        self.request = request
        self.url = url if url is not None else (request.url if request is not None else None)
        self.history: list[ClientResponse] = []
        self.timing = timing if timing is not None else Timing()
        self._trailers: Headers | None = None
        self._finished = False
        self._source: BodySource = source if source is not None else _EmptySource()
        self._decoder = decoder  # None: the body is sent as is (no content-coding)
        self._content = content
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time() - self.timing.ttfb
        self._streamed = content is not None
        self._closed = content is not None
        if content is not None:
            self.timing.total = self.timing.ttfb

    @classmethod
    def received(
        cls, status: int, raw_headers: list[tuple[bytes, bytes]], reason: str, http_version: str,
        request: ClientRequest, source: BodySource, decoder: BodyDecoder | None, timing: Timing, started: float,
        loop: asyncio.AbstractEventLoop,
    ) -> ClientResponse:
        """A response whose head just arrived, its body still on ``source`` (the client's constructor).

        The same object as the keyword constructor builds, from parts the
        client already holds: ``raw_headers`` the fields as received (decoded
        into :attr:`headers` when first asked for), ``started`` the loop time
        the exchange began, ``loop`` the running loop, ``decoder`` None for an
        unencoded body.
        """
        response = cls.__new__(cls)
        response.status = status
        response.reason = reason or _REASONS.get(status, "")
        response.http_version = http_version
        response._raw_headers = raw_headers
        response._headers = None
        response._sets_cookies = sets_cookies(raw_headers)
        response.request = request
        response.url = request.url
        response.history = []
        response.timing = timing
        response._trailers = None
        response._finished = False
        response._source = source
        response._decoder = decoder
        response._content = None
        response._loop = loop
        response._started = started
        response._streamed = False
        response._closed = False
        return response

    def __repr__(self) -> str:
        return f"<ClientResponse [{self.status} {self.reason}]>"

    def __del__(self) -> None:
        # A streamed response nobody closed still holds its pool slot and its
        # connection; say so, as unclosed files and sockets do.
        if not getattr(self, "_closed", True) and not isinstance(self._source, _EmptySource):
            warnings.warn(f"unclosed streamed response {self!r} for {self.url}: use 'async with client.stream(...)'"
                          " or await response.aclose()", ResourceWarning, stacklevel=1, source=self)

    # -- status ------------------------------------------------------------------

    @property
    def is_success(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300

    @property
    def is_redirect(self) -> bool:
        """True for a 3xx with a Location header."""
        return 300 <= self.status < 400 and "location" in self.headers

    @property
    def elapsed(self) -> float:
        """Seconds from sending the request to the end of the body (so far, while still streaming)."""
        if self.timing.total is not None:
            return self.timing.total
        return self._loop.time() - self._started

    @property
    def headers(self) -> Headers:
        """The header fields (:class:`Headers`), decoded from the received bytes when first asked for."""
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers.from_raw(self._raw_headers)
        return headers

    @headers.setter
    def headers(self, headers: Headers) -> None:
        self._headers = headers

    @property
    def trailers(self) -> Headers:
        """The trailer fields once the body was read to its end (empty before, and without trailers)."""
        trailers = self._trailers
        if trailers is None:
            trailers = self._trailers = self._source.trailers if self._finished else Headers()
        return trailers

    @trailers.setter
    def trailers(self, trailers: Headers) -> None:
        self._trailers = trailers

    @property
    def is_closed(self) -> bool:
        """True once the body was read to the end or the response closed."""
        return self._closed

    @property
    def encoding(self) -> str | None:
        """The charset declared in ``Content-Type``, or None."""
        return charset_from_content_type(self.headers.get("content-type", ""))

    def raise_for_status(self) -> ClientResponse:
        """Raise :class:`HTTPStatusError` for a 4xx or 5xx status; return self otherwise."""
        if self.status < 400:
            return self
        kind = "client error" if self.status < 500 else "server error"
        assert self.request is not None
        raise HTTPStatusError(
            f"{self.status} {self.reason} ({kind}) for {self.request.method} {self.url}",
            request=self.request,
            response=self,
        )

    # -- the body ------------------------------------------------------------------

    @property
    def content(self) -> bytes:
        """The decoded body after :meth:`read` (raises :class:`ResponseConsumed` before)."""
        if self._content is None:
            raise ResponseConsumed("the body has not been read: await response.read() first")
        return self._content

    async def read(self) -> bytes:
        """The whole decoded body (read once, then cached)."""
        if self._content is not None:
            return self._content
        if self._streamed:
            raise ResponseConsumed("the response body was already streamed or the response is closed")
        self._streamed = True
        decoder, source = self._decoder, self._source
        pieces: list[bytes] = []
        try:
            read_all = getattr(source, "read_all", None)  # a pooled body reads the rest in one await
            if decoder is None and read_all is not None:
                pieces = await read_all()
            elif decoder is None:
                while (chunk := await source.next_chunk()) is not None:
                    pieces.append(chunk)
            else:
                while (chunk := await source.next_chunk()) is not None:
                    pieces.extend(decoder.feed(chunk))
                decoder.finish()
            self._finished, self._trailers = True, None  # _finish(), inlined
        finally:
            if not self._closed:
                # aclose(), without awaiting a source that already reached
                # its end (closing it then does nothing, by its contract).
                self._closed = True
                try:
                    if not self._finished:
                        await source.aclose()
                finally:
                    self.timing.total = self._loop.time() - self._started
        self._content = content = b"".join(pieces)
        return content

    async def text(self, encoding: str | None = None, errors: str = "replace") -> str:
        """The body as text: ``encoding``, else the declared charset, else a BOM, else UTF-8."""
        content = await self.read()
        decoder = TextDecoder(encoding or self.encoding, errors, newline="")  # text as sent
        try:
            return decoder.decode(content, final=True)
        except TextError as exc:
            raise DecodingError(f"cannot decode the response text: {exc}", request=self.request) from exc

    async def json(self, **options: Any) -> Any:
        """The body parsed as JSON (UTF-8/16/32 detected as RFC 8259 allows)."""
        content = await self.read()
        try:
            return jsonlib.loads(content, **options)
        except ValueError as exc:
            raise DecodingError(f"the response body is not valid JSON: {exc}", request=self.request) from exc

    async def iter_raw(self) -> AsyncIterator[bytes]:
        """The body as received, content-coding not undone (transfer framing is)."""
        self._start_streaming()
        try:
            while (chunk := await self._source.next_chunk()) is not None:
                yield chunk
            self._finish()
        finally:
            await self.aclose()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """The decoded body, piece by piece, as it arrives."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        self._start_streaming()
        decoder = self._decoder
        try:
            if decoder is None:
                while (chunk := await self._source.next_chunk()) is not None:
                    if chunk:
                        yield chunk
            else:
                while (chunk := await self._source.next_chunk()) is not None:
                    for piece in decoder.feed(chunk):
                        yield piece
                decoder.finish()
            self._finish()
        finally:
            await self.aclose()

    async def iter_text(self, encoding: str | None = None, errors: str = "replace") -> AsyncIterator[str]:
        """The decoded body as text pieces (charset as in :meth:`text`)."""
        decoder = TextDecoder(encoding or self.encoding, errors, newline="")  # text as sent
        try:
            async for chunk in self.iter_bytes():
                if text := decoder.decode(chunk):
                    yield text
            if text := decoder.decode(b"", final=True):
                yield text
        except TextError as exc:
            raise DecodingError(f"cannot decode the response text: {exc}", request=self.request) from exc

    def iter_lines(
        self, encoding: str | None = None, errors: str = "replace", *, keepends: bool = False,
        max_line_length: int | None = 1024 * 1024,
    ) -> AsyncIterator[str]:
        """The decoded body line by line (universal newlines), however the bytes were split.

        A line longer than ``max_line_length`` characters raises :class:`DecodingError`.
        The lines of each decoded piece are handed out without an await (by
        the C iterator of ``tidal.streams._queue_iter`` when it is built);
        ``aclose()`` on the iterator closes it as an async generator's would.
        """
        batches = self.iter_line_batches(encoding, errors, keepends=keepends, max_line_length=max_line_length)
        lines: deque[str] = deque()

        async def refill() -> bool:
            try:
                batch = await batches.__anext__()
            except StopAsyncIteration:
                return False
            lines.extend(batch)
            return True

        return iterate_queue(lines, refill, batches.aclose)

    async def iter_line_batches(
        self, encoding: str | None = None, errors: str = "replace", *, keepends: bool = False,
        max_line_length: int | None = 1024 * 1024,
    ) -> AsyncGenerator[list[str], None]:
        """The lines of :meth:`iter_lines`, as lists: every line complete in each decoded piece.

        For bodies of millions of lines: one ``await`` per received piece
        instead of one per line.  No list is empty; a line is never split
        across two lists.
        """
        decoder = LineDecoder(encoding or self.encoding, errors, keepends=keepends, max_line_length=max_line_length)
        try:
            async for chunk in self.iter_bytes():
                lines = decoder.feed(chunk)
                if lines:
                    yield lines
            lines = decoder.finish()
            if lines:
                yield lines
        except TextError as exc:
            raise DecodingError(f"cannot split the response into lines: {exc}", request=self.request) from exc

    def _start_streaming(self) -> None:
        if self._streamed:
            raise ResponseConsumed("the response body was already streamed or the response is closed")
        self._streamed = True

    def _finish(self) -> None:
        self._finished = True
        self._trailers = None  # the source's, looked up when asked for

    async def aclose(self) -> None:
        """Close the response; an unread body closes its connection instead of reusing it."""
        if self._closed:
            return
        self._closed = True
        self._streamed = True
        try:
            await self._source.aclose()
        finally:
            self.timing.total = self._loop.time() - self._started

    async def __aenter__(self) -> ClientResponse:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
