"""The native front end: ``async def handler(request) -> Response``."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from .._headers import Headers
from ._request import Request
from ._response import FileBody, Response
from ._writer import RawHeaders, ResponseWriter

__all__ = ["Handler", "Dispatch", "native_dispatch", "send_response"]

Handler = Callable[[Request], Awaitable[Response]]
"""``async def handler(request: Request) -> Response``."""

Dispatch = Callable[[Request, ResponseWriter], Awaitable[None]]
"""What the connection calls per request: answer ``request`` through ``writer``."""


def native_dispatch(handler: Handler) -> Dispatch:
    """Adapt a native handler to the connection's dispatch signature."""

    async def dispatch(request: Request, writer: ResponseWriter) -> None:
        try:
            response = await handler(request)
            if not isinstance(response, Response):
                raise TypeError(f"the handler returned {type(response).__name__}, not a tidal.http.Response")
            await send_response(writer, response)
        finally:
            # A disconnect watch reads the connection: it must stop before
            # the connection reads the next request (or answers a failure).
            await request.stop_watching()

    return dispatch


async def send_response(writer: ResponseWriter, response: Response) -> None:
    """Send ``response`` through ``writer``: whole bytes at once, iterables piece by piece."""
    body = response.body
    headers = response.headers.raw()
    if isinstance(body, (bytes, bytearray, memoryview)) and response.trailers is None:
        await writer.respond(response.status, headers, body)
        return
    if isinstance(body, FileBody) and response.trailers is None:
        await writer.respond_with_file(response.status, headers, body)
        return
    writer.start(response.status, headers, trailers=response.trailers is not None)
    if isinstance(body, (bytes, bytearray, memoryview)):
        await writer.write(body)
    else:
        await _stream_body(writer, body)  # type: ignore[arg-type]
    await writer.end(await _trailer_fields(response))


async def _stream_body(writer: ResponseWriter, body: AsyncIterable[bytes] | Iterable[bytes]) -> None:
    if isinstance(body, AsyncIterable):
        iterator = aiter(body)
        try:
            if writer.drops_body:
                return  # HEAD: the producer is not run at all
            async for piece in iterator:
                await writer.write(piece)
        finally:
            # A generator left half-way (client gone, HEAD) still runs its cleanup now.
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()
        return
    if not writer.drops_body:
        for piece in body:
            await writer.write(piece)


async def _trailer_fields(response: Response) -> RawHeaders | None:
    trailers: Any = response.trailers
    if trailers is None:
        return None
    if callable(trailers):
        trailers = trailers()
        if inspect.isawaitable(trailers):
            trailers = await trailers
    return Headers(trailers).raw()
