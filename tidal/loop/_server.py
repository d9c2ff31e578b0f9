"""The listening ``Server`` returned by ``create_server``/``create_unix_server``.

Theory of operation
-------------------
Each listening socket gets one persistent read registration while the
server is serving.  A readiness callback accepts in a loop until EAGAIN (at
most ``backlog`` connections per callback, so a connection storm cannot
starve the other callbacks) and builds each connection's transport
synchronously: a plain connection needs no handshake, so no task is created
per connection.

Accept failures caused by exhausted resources (EMFILE, ENFILE, ENOBUFS,
ENOMEM) are reported once to the exception handler and accepting on that
socket pauses for one second, instead of spinning on a listening socket that
stays readable.

With ``ssl=`` each accepted connection's protocol sits on a TLS transport
(:mod:`tidal.loop._tls_transport`); the handshake runs inside the
transports, so accepting stays synchronous and a failed handshake never
reaches the application's protocol.

``close()`` and ``wait_closed()`` follow Python 3.11: ``close()`` stops
listening at once and leaves accepted connections alone; ``wait_closed()``
waits for the last connection to go away, but (as in 3.11) returns at once
when called after ``close()``.  ``serve_forever()`` cancelled closes the
server and waits for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import socket
import ssl
from asyncio import trsock
from collections.abc import Callable
from typing import Any

from tidal.loop._tls_transport import TLSProtocol
from tidal.loop._transports import StreamTransport

__all__ = ["Server", "ServerTLS"]

# Seconds to wait before accepting again after running out of descriptors
# or memory: long enough for connections to finish, short enough to recover.
ACCEPT_RETRY_DELAY = 1.0

_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclasses.dataclass(frozen=True)
class ServerTLS:
    """How a server wraps its accepted connections in TLS."""

    context: ssl.SSLContext
    handshake_timeout: float | None = None
    shutdown_timeout: float | None = None


class Server(asyncio.AbstractServer):
    """A set of listening sockets that start a protocol per accepted connection."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int = 100,
        *,
        tls: ServerTLS | None = None,
    ) -> None:
        self._loop = loop
        self._tls = tls
        self._sockets: list[socket.socket] | None = sockets
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._active_count = 0  # live transports of accepted connections
        self._waiters: list[asyncio.Future[None]] | None = []
        self._serving = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        self._retry_handles: dict[int, asyncio.TimerHandle] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    # -- bookkeeping used by the transports ----------------------------------
    def _attach(self) -> None:
        self._active_count += 1

    def _detach(self) -> None:
        self._active_count -= 1
        if self._active_count == 0 and self._sockets is None:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # -- accepting ---------------------------------------------------------------
    def _start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._loop.add_reader(sock.fileno(), self._accept_ready, sock)

    def _accept_ready(self, sock: socket.socket) -> None:
        for _ in range(self._backlog):
            if self._sockets is None:
                return  # a protocol factory closed the server mid-batch
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return  # nothing (more) to accept, or the client gave up first
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise
                self._pause_accepting(sock, exc)
                return
            conn.setblocking(False)
            self._start_connection(conn, address)

    def _pause_accepting(self, sock: socket.socket, exc: OSError) -> None:
        self._loop.call_exception_handler(
            {"message": "socket.accept() out of system resource", "exception": exc, "socket": trsock.TransportSocket(sock)}
        )
        fd = sock.fileno()
        self._loop.remove_reader(fd)
        self._retry_handles[fd] = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting, sock)

    def _resume_accepting(self, sock: socket.socket) -> None:
        self._retry_handles.pop(sock.fileno(), None)
        if self._serving:
            self._loop.add_reader(sock.fileno(), self._accept_ready, sock)

    def _start_connection(self, conn: socket.socket, address: Any) -> None:
        try:
            protocol = self._protocol_factory()
            if self._tls is not None:
                protocol = TLSProtocol(
                    self._loop, protocol, self._tls.context, None, server_side=True,
                    ssl_handshake_timeout=self._tls.handshake_timeout,
                    ssl_shutdown_timeout=self._tls.shutdown_timeout,
                )
            StreamTransport(self._loop, conn, protocol, extra={"peername": address}, server=self)
        except (SystemExit, KeyboardInterrupt):
            conn.close()
            raise
        except BaseException as exc:
            # Unlike asyncio (which reports this only in debug mode and leaves
            # the socket to the garbage collector), always report and close.
            conn.close()
            self._loop.call_exception_handler(
                {"message": "Error on transport creation for incoming connection", "exception": exc}
            )

    # -- asyncio.AbstractServer --------------------------------------------------
    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop this server accepts on."""
        return self._loop

    def is_serving(self) -> bool:
        """True while the server accepts new connections."""
        return self._serving

    @property
    def sockets(self) -> tuple[trsock.TransportSocket, ...]:
        """The listening sockets (wrapped: they cannot be read or closed directly)."""
        if self._sockets is None:
            return ()
        return tuple(trsock.TransportSocket(sock) for sock in self._sockets)

    def close(self) -> None:
        """Stop listening and close the listening sockets; connections stay open."""
        sockets, self._sockets = self._sockets, None
        if sockets is None:
            return
        for sock in sockets:
            handle = self._retry_handles.pop(sock.fileno(), None)
            if handle is not None:
                handle.cancel()
            if self._serving:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if self._active_count == 0:
            self._wakeup()

    async def start_serving(self) -> None:
        """Start accepting connections (a no-op when already serving)."""
        self._start_serving()
        # Let the loop register the listening sockets before returning.
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        """Accept until cancelled; cancellation closes the server and waits for it."""
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        """Wait until the server is closed and its connections are gone (3.11 rules)."""
        if self._sockets is None or self._waiters is None:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()
