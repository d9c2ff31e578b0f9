"""``Response``: what a native handler returns."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import Any, Union

from .._headers import Headers, HeadersLike

__all__ = ["Response", "Body", "FileBody", "TrailersSource", "reason_phrase"]

Body = Union[bytes, bytearray, memoryview, str, "FileBody", AsyncIterable[bytes], Iterable[bytes]]
"""A response body: bytes or text sent whole, a :class:`FileBody`, or an (async) iterable of byte pieces streamed."""

TrailersSource = Union[HeadersLike, Callable[[], Awaitable[HeadersLike]], None]
"""Trailer fields, or an async callable producing them once the body has been sent."""

_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}
_FILE_CHUNK = 256 * 1024


class FileBody:
    """A region of a file as a response body, ``count`` bytes from ``offset``.

    Over a plain TCP or Unix connection on tidal's loop the kernel copies it
    (``os.sendfile``: no read into Python, no copy per byte); elsewhere (TLS,
    other loops, ``HEAD``) it is read in chunks in the default executor, so a
    slow disk never blocks the loop.  Either way ``Content-Length`` is set to
    ``count`` unless the response has one, and each piece must be taken by
    the client within the server's write timeout.  A file that turns out
    shorter than ``count`` breaks the connection (the client sees a
    truncated body, never a wrong one).
    """

    __slots__ = ("path", "offset", "count")

    def __init__(self, path: str | os.PathLike[str], offset: int = 0, count: int | None = None) -> None:
        if offset < 0:
            raise ValueError(f"offset must not be negative, not {offset}")
        self.path = os.fspath(path)
        """The file's path."""
        self.offset = offset
        """Where the region starts."""
        if count is None:
            count = max(0, os.stat(self.path).st_size - offset)
        elif count < 0:
            raise ValueError(f"count must not be negative, not {count}")
        self.count = count
        """How many bytes are sent."""

    def __repr__(self) -> str:
        return f"<FileBody {self.path!r} [{self.offset}:{self.offset + self.count}]>"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The region in chunks, each read off the loop thread."""
        loop = asyncio.get_running_loop()
        descriptor = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        offset, count = self.offset, self.count
        try:
            while count > 0:
                data = await loop.run_in_executor(None, os.pread, descriptor, min(_FILE_CHUNK, count), offset)
                if not data:
                    raise OSError(f"{self.path} ended {count} bytes before the {self.count}-byte region")
                offset += len(data)
                count -= len(data)
                yield data
        finally:
            os.close(descriptor)


def reason_phrase(status: int) -> bytes:
    """The standard reason phrase of ``status`` (``b""`` when unknown)."""
    return _REASONS.get(status, b"")


class Response:
    """One HTTP response: status, header fields, a body and optional trailers.

    ``body`` is bytes (or ``str``, encoded as UTF-8 and typed
    ``text/plain; charset=utf-8`` unless ``content_type`` says otherwise),
    sent with ``Content-Length``; or an async iterable (or plain iterable) of
    bytes, streamed with chunked encoding to HTTP/1.1 clients (delimited by
    closing the connection for HTTP/1.0 clients) unless ``Content-Length``
    is given; or a :class:`FileBody` (a file region, sent with
    ``os.sendfile`` where possible).  Each piece is sent before the next is requested, so a slow
    client slows the producer instead of filling memory.  ``trailers`` are
    sent after a chunked body: fields, or an async callable returning them
    once the body is done (a checksum of what was streamed).
    """

    __slots__ = ("status", "headers", "body", "trailers")

    def __init__(
        self,
        body: Body = b"",
        *,
        status: int = 200,
        headers: HeadersLike | None = None,
        content_type: str | None = None,
        trailers: TrailersSource = None,
    ) -> None:
        if not 100 <= status <= 599 or 101 <= status <= 199:
            raise ValueError(f"status must be 100 or 200-599 for a final response, not {status}")
        self.status = status
        """The status code."""
        self.headers = Headers(headers)
        """The header fields (``Content-Length``/``Date`` are added when absent)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
            if content_type is None and "content-type" not in self.headers:
                content_type = "text/plain; charset=utf-8"
        if content_type is not None:
            self.headers["Content-Type"] = content_type
        self.body: Body = body
        """The body (see the class docstring)."""
        self.trailers = trailers
        """Trailer fields, or an async callable producing them."""

    def __repr__(self) -> str:
        return f"<Response {self.status}>"

    @classmethod
    def json(cls, data: Any, *, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """A compact UTF-8 JSON body typed ``application/json``."""
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(body, status=status, headers=headers, content_type="application/json")

    @classmethod
    def text(cls, text: str, *, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """A UTF-8 text body typed ``text/plain; charset=utf-8``."""
        return cls(text, status=status, headers=headers)

    @classmethod
    def html(cls, html: str, *, status: int = 200, headers: HeadersLike | None = None) -> Response:
        """A UTF-8 HTML body typed ``text/html; charset=utf-8``."""
        return cls(html.encode("utf-8"), status=status, headers=headers, content_type="text/html; charset=utf-8")
