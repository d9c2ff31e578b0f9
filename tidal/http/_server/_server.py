"""``serve()`` and ``Server``: listeners, the accept loop and graceful shutdown.

Theory of operation.  The server owns one accept task per listening socket
and one task per connection, and holds every one of them (asyncio keeps only
weak references).  Admission is decided synchronously when a connection is
accepted: below ``max_connections`` it is served; at the limit the
``"reject"`` policy answers 503 and closes, while ``"backlog"`` stops
calling ``accept()`` until a connection ends, leaving clients in the
kernel's queue.

Shutdown: :meth:`Server.close` stops accepting, marks the server closing
(every response from now on carries ``Connection: close``) and cancels the
connections that sit idle between requests -- the keep-alive contract lets
a server close those at any time.  :meth:`Server.wait_closed` gives the
in-flight requests ``shutdown_grace`` seconds, cancels what is left, waits
for every task, then runs the ASGI lifespan shutdown if there is one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from collections.abc import Awaitable, Callable
from typing import Any

from tidal.protocols.http import SERVER, HTTPConnection, HTTPLimits
from tidal.protocols.http import Response as WireResponse
from tidal.streams import ByteStream, SocketListener, StreamClosed, StreamError, TLSStream, open_tcp_listeners

from ._connection import HTTPServerConnection
from ._limits import DEFAULT_SERVER_LIMITS, DEFAULT_SERVER_TIMEOUTS, ServerLimits, ServerTimeouts
from ._native import Dispatch

__all__ = ["Server", "ServerState", "start_server"]

logger = logging.getLogger("tidal.http.server")


class ServerState:
    """Settings and shutdown state every connection of one server reads."""

    __slots__ = ("limits", "engine_limits", "timeouts", "access_log", "scheme", "closing")

    def __init__(self, limits: ServerLimits, timeouts: ServerTimeouts, *, access_log: bool, scheme: str) -> None:
        self.limits = limits
        self.engine_limits: HTTPLimits = limits.engine_limits()
        self.timeouts = timeouts
        self.access_log = access_log
        self.scheme = scheme
        self.closing = False


class Server:
    """A running HTTP server; returned by :func:`tidal.http.serve`.

    ``close()`` stops accepting and lets in-flight requests finish;
    ``await wait_closed()`` waits for them (cancelling those still running
    after ``ServerTimeouts.shutdown_grace``).  ``async with server:`` does
    both on exit; ``await serve_forever()`` waits until ``close()``.
    """

    def __init__(
        self,
        dispatch: Dispatch,
        listeners: list[SocketListener],
        *,
        ssl: _ssl.SSLContext | None,
        limits: ServerLimits,
        timeouts: ServerTimeouts,
        access_log: bool,
        on_closed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._listeners = listeners
        self._ssl = ssl
        self._state = ServerState(limits, timeouts, access_log=access_log, scheme="https" if ssl else "http")
        self._on_closed = on_closed
        self._accept_tasks: set[asyncio.Task[None]] = set()
        self._connection_tasks: dict[asyncio.Task[None], HTTPServerConnection | None] = {}
        self._slot_freed = asyncio.Event()
        self._close_requested = asyncio.Event()
        self._closed = asyncio.Event()
        self._shutting_down = False
        self._overload_response = _overload_response()

    # ------------------------------------------------------------ properties

    @property
    def sockets(self) -> list[Any]:
        """The listening sockets."""
        return [listener.socket for listener in self._listeners]

    @property
    def addresses(self) -> list[Any]:
        """The bound address of each listener, e.g. ``[("127.0.0.1", 8000)]``."""
        return [listener.socket.getsockname() for listener in self._listeners]

    @property
    def port(self) -> int:
        """The bound TCP port (useful after ``port=0``)."""
        port: int = self._listeners[0].socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``http://host:port`` (or ``https``) of the first listener."""
        host = self.addresses[0][0]
        if ":" in host:
            host = f"[{host}]"
        return f"{self._state.scheme}://{host}:{self.port}"

    @property
    def active_connections(self) -> int:
        """Connections being served now."""
        return len(self._connection_tasks)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` was called."""
        return self._state.closing

    # --------------------------------------------------------------- serving

    def start(self) -> None:
        """Start accepting (``serve()`` already did)."""
        for listener in self._listeners:
            task = asyncio.ensure_future(self._accept_loop(listener))
            self._accept_tasks.add(task)
            task.add_done_callback(self._accept_tasks.discard)

    async def _accept_loop(self, listener: SocketListener) -> None:
        limits = self._state.limits
        try:
            while True:
                if limits.overload == "backlog":
                    while len(self._connection_tasks) >= limits.max_connections:
                        self._slot_freed.clear()
                        await self._slot_freed.wait()
                stream = await listener.accept()
                if len(self._connection_tasks) >= limits.max_connections:
                    self._track(self._reject(stream), None)
                else:
                    self._track(self._serve_one(stream), None)
        except StreamClosed:
            pass
        except StreamError:
            logger.exception("listener %r failed; it accepts no more connections", listener)
        finally:
            await listener.aclose()

    def _track(self, coro: Any, connection: HTTPServerConnection | None) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._connection_tasks[task] = connection
        task.add_done_callback(self._connection_done)

    def _connection_done(self, task: asyncio.Task[None]) -> None:
        self._connection_tasks.pop(task, None)
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("connection task failed", exc_info=task.exception())

    async def _serve_one(self, stream: ByteStream) -> None:
        try:
            if self._ssl is not None:
                stream = await self._handshake(stream)
            connection = HTTPServerConnection(stream, self._dispatch, self._state)
            task = asyncio.current_task()
            if task in self._connection_tasks:
                self._connection_tasks[task] = connection
            if self._state.closing:
                return
            await connection.serve()
        except (StreamError, TimeoutError):
            pass  # a failed handshake or a client that went away
        finally:
            await stream.aclose()

    async def _handshake(self, stream: ByteStream) -> ByteStream:
        assert self._ssl is not None
        tls = TLSStream.wrap(stream, self._ssl, server_side=True)
        try:
            async with asyncio.timeout(self._state.timeouts.tls_handshake):
                await tls.do_handshake()
        except BaseException:
            await tls.abort()
            raise
        return tls

    async def _reject(self, stream: ByteStream) -> None:
        """Answer an over-limit connection with 503 and close it."""
        try:
            if self._ssl is not None:
                stream = await self._handshake(stream)
            async with asyncio.timeout(min(1.0, self._state.timeouts.write)):
                await stream.send_all(self._overload_response)
        except (StreamError, TimeoutError):
            pass
        finally:
            await stream.aclose()

    # -------------------------------------------------------------- shutdown

    def close(self) -> None:
        """Stop accepting; idle keep-alive connections close now, busy ones after their response."""
        if self._state.closing:
            return
        self._state.closing = True
        self._close_requested.set()
        for task in self._accept_tasks:
            task.cancel()
        for connection in self._connection_tasks.values():
            if connection is not None:
                connection.cancel_if_idle()

    async def wait_closed(self) -> None:
        """Wait until closed: in-flight requests get ``shutdown_grace`` seconds, then are cancelled."""
        await self._close_requested.wait()
        if self._shutting_down:
            await self._closed.wait()
            return
        self._shutting_down = True
        try:
            if self._accept_tasks:
                await asyncio.wait(set(self._accept_tasks))
            for listener in self._listeners:
                # An accept task cancelled before it first ran never reached
                # its own cleanup; closing twice is harmless.
                await listener.aclose()
            grace = self._state.timeouts.shutdown_grace
            if self._connection_tasks and grace > 0:
                await asyncio.wait(set(self._connection_tasks), timeout=grace)
            for task in self._connection_tasks:
                task.cancel()
            while self._connection_tasks:
                await asyncio.wait(set(self._connection_tasks))
            if self._on_closed is not None:
                await self._on_closed()
        finally:
            self._closed.set()

    async def aclose(self) -> None:
        """``close()`` then ``await wait_closed()``."""
        self.close()
        await self.wait_closed()

    async def serve_forever(self) -> None:
        """Wait until :meth:`close` is called and the server has shut down."""
        try:
            await self._close_requested.wait()
        finally:
            await self.aclose()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _overload_response() -> bytes:
    engine = HTTPConnection(SERVER)
    body = b"503 Service Unavailable\nthe server is at its connection limit\n"
    head = WireResponse(
        status_code=503,
        reason=b"Service Unavailable",
        headers=[
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
        ],
    )
    return engine.send(head) + body


async def start_server(
    dispatch: Dispatch,
    host: str | None,
    port: int,
    *,
    ssl: _ssl.SSLContext | None = None,
    reuse_port: bool = False,
    backlog: int = 1024,
    limits: ServerLimits | None = None,
    timeouts: ServerTimeouts | None = None,
    access_log: bool = True,
    on_closed: Callable[[], Awaitable[None]] | None = None,
) -> Server:
    """Bind, listen and start serving ``dispatch``; see :func:`tidal.http.serve`."""
    listeners = await open_tcp_listeners(port, host=host, backlog=backlog, reuse_port=reuse_port)
    server = Server(
        dispatch,
        listeners,
        ssl=ssl,
        limits=limits or DEFAULT_SERVER_LIMITS,
        timeouts=timeouts or DEFAULT_SERVER_TIMEOUTS,
        access_log=access_log,
        on_closed=on_closed,
    )
    server.start()
    return server
