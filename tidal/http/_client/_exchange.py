"""One exchange on a pooled connection: the request head, the response body source, the retry rule.

Helpers of :class:`~._client.Client` kept apart so that module stays about
the request loop.  :class:`PooledBody` is where a connection goes back to
the pool (body read to its end, engine allows keep-alive) or is closed.
"""

from __future__ import annotations

from ...protocols.http import Request, Response
from .._headers import Headers
from ._connection import Connection
from ._errors import HTTPError, HTTPTimeout, ReadError, RemoteProtocolError, TransportError, WriteError
from ._models import ClientRequest, ClientResponse
from ._pool import ConnectionPool, close_all
from ._proxy import proxy_authorization
from ._timeouts import Deadlines
from ._urls import URL

__all__ = ["PooledBody", "early_response", "head_fields", "request_head", "died_while_idle", "drain", "IDEMPOTENT", "DRAIN_LIMIT"]

#: Methods that may be sent twice (RFC 9110 §9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Bodies we do not need (redirects, auth challenges) up to this size are read so the connection can be reused.
DRAIN_LIMIT = 64 * 1024


class PooledBody:
    """A response body read from a pooled connection; gives the connection back at its end."""

    __slots__ = ("_pool", "_connection", "_deadlines", "_trailer_fields", "_trailers")

    def __init__(self, pool: ConnectionPool[Connection], connection: Connection, deadlines: Deadlines) -> None:
        self._pool = pool
        self._connection: Connection | None = connection
        self._deadlines = deadlines
        self._trailer_fields: list[tuple[bytes, bytes]] = []
        self._trailers: Headers | None = None

    @property
    def trailers(self) -> Headers:
        """The trailer fields after the body's end (empty before); decoded when first asked for."""
        trailers = self._trailers
        if trailers is None:
            trailers = self._trailers = Headers.from_raw(self._trailer_fields)
        return trailers

    async def next_chunk(self) -> bytes | None:
        connection = self._connection
        if connection is None:
            return None
        try:
            chunk = await connection.receive_body(self._deadlines)
        except BaseException:
            await self.aclose()
            raise
        if chunk is None:
            to_close = self._ended(connection)
            if to_close:
                await close_all(to_close)
        return chunk

    async def read_all(self) -> list[bytes]:
        """The rest of the body, piece by piece as :meth:`next_chunk` gives them, in one await."""
        connection = self._connection
        if connection is None:
            return []
        try:
            pieces = await connection.receive_rest(self._deadlines)
        except BaseException:
            await self.aclose()
            raise
        to_close = self._ended(connection)
        if to_close:
            await close_all(to_close)
        return pieces

    def _ended(self, connection: Connection) -> list[Connection]:
        """The body's end: keep the trailers, give the connection back; returns what to close."""
        deadlines = self._deadlines
        self._trailer_fields, self._trailers = connection.trailers, None
        if deadlines.trace is not None:
            deadlines.emit("response.body_done")
        self._connection = None
        if connection.finish_cycle():
            return self._pool.state.checkin(connection, deadlines.loop.time())
        return [connection, *self._pool.discard(connection)]

    async def aclose(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._connection = None
        await close_all([connection, *self._pool.discard(connection)])


def head_fields(request: ClientRequest, forward_proxy: URL | None) -> list[tuple[bytes, bytes]]:
    """The header fields to send: the request's, plus Host, framing and proxy credentials."""
    raw = request.headers.raw()
    names = {name.lower() for name, _ in raw}  # one pass instead of a scan per lookup
    fields = raw if b"host" in names else [(b"Host", request.url.host_header.encode("ascii")), *raw]
    if forward_proxy is not None:
        credentials = proxy_authorization(forward_proxy)
        if credentials is not None:
            fields.append(credentials)
    body = request.body
    if body is not None and b"content-length" not in names and b"transfer-encoding" not in names:
        if body.length is None:
            fields.append((b"Transfer-Encoding", b"chunked"))
        else:
            fields.append((b"Content-Length", str(body.length).encode("ascii")))
    elif body is None and request.method in ("POST", "PUT", "PATCH") and b"content-length" not in names:
        fields.append((b"Content-Length", b"0"))
    return fields


def request_head(
    request: ClientRequest, forward_proxy: URL | None, fields: list[tuple[bytes, bytes]]
) -> Request:
    """The engine's request event; through a forwarding proxy the target is the absolute URL."""
    target = request.url.target
    if forward_proxy is not None:
        target = str(request.url.without_credentials()).split("#", 1)[0]
    return Request(method=request.method.encode("ascii"), target=target.encode("ascii"), headers=fields)


def died_while_idle(error: BaseException) -> bool:
    """A failure that means "the server had already closed this idle connection"."""
    return isinstance(error, (ReadError, WriteError, RemoteProtocolError))


async def drain(response: ClientResponse) -> None:
    """Read a small body we do not need (to reuse the connection), else close the response."""
    try:
        length = int(response.headers.get("content-length", "-1"))
    except ValueError:
        length = -1
    if 0 <= length <= DRAIN_LIMIT:
        try:
            async for _ in response.iter_raw():
                pass
        except (TransportError, HTTPTimeout):
            pass
    await response.aclose()


async def early_response(connection: Connection, deadlines: Deadlines, write_error: WriteError) -> Response:
    """The response head a server sent before giving up on our body, or ``write_error`` again.

    Whatever already arrived is read (within the read budget); if it holds no
    complete head the original error is what the caller sees.
    """
    try:
        return await connection.receive_head(deadlines)
    except (HTTPError, OSError):
        raise write_error from None
