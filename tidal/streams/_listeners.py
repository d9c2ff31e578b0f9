"""Listeners and servers: accepting connections and owning their handler tasks.

Theory of operation
-------------------
A :class:`SocketListener` wraps one listening socket; ``accept()`` returns a
connected :class:`SocketStream`.  A :class:`StreamServer` runs one accept
task per listener and one handler task per connection, and holds every one
of them: asyncio keeps only weak references to tasks, so a task nobody
holds can vanish mid-flight, and a task nobody awaits can hide an error.

Shutting down is split in two, like ``asyncio.Server``: ``close()`` stops
accepting at once (the accept tasks are cancelled and close their listening
sockets); ``await wait_closed()`` waits until every handler has returned.
``await aclose(grace_period)`` does both and cancels the handlers still
running after the grace period, so no task outlives the server.  The server
closes each connection's stream when its handler returns, whatever happened.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable
from typing import Any

from ._abc import ByteStream, ConflictGuard, Listener
from ._connect import resolve_with_loop
from ._errors import StreamBroken, StreamClosed
from ._interrupt import InterruptibleOperation, wait_interrupted
from ._socket import SocketStream, wait_readable, wrap_socket

__all__ = [
    "SocketListener",
    "StreamServer",
    "Handler",
    "open_tcp_listeners",
    "open_unix_listener",
    "serve_listeners",
    "serve_tcp",
    "serve_unix",
]

logger = logging.getLogger("tidal.streams")

#: ``async def handler(stream) -> None``, called once per connection.
Handler = Callable[[ByteStream], Awaitable[None]]

# accept() errors caused by one client going away, not by the listener.
_TRANSIENT_ACCEPT_ERRORS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.ENETDOWN, errno.EHOSTUNREACH}
DEFAULT_BACKLOG = 128
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 60.0


class SocketListener(Listener[SocketStream]):
    """A listening TCP or Unix socket; ``await accept()`` returns each connection's stream."""

    def __init__(self, sock: socket.socket, *, unlink_on_close: str | None = None) -> None:
        sock.setblocking(False)
        self._socket = sock
        self._closed = False
        self._unlink_path = unlink_on_close
        self._inode = os.stat(unlink_on_close).st_ino if unlink_on_close else None
        self._guard = ConflictGuard("another task is already accepting on this listener")
        self._accepting = InterruptibleOperation("the listener was closed while accepting")

    @property
    def socket(self) -> socket.socket:
        """The listening socket."""
        return self._socket

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"socket"`` and ``"sockname"``."""
        if name == "socket":
            return self._socket
        if name == "sockname":
            return self._socket.getsockname() if not self._closed else default
        return default

    async def accept(self) -> SocketStream:
        """Wait for a connection; raise ``StreamClosed`` if the listener closes meanwhile."""
        if self._closed:
            raise StreamClosed("the listener was closed")
        loop = asyncio.get_running_loop()
        with self._guard:
            while True:
                # accept() ourselves after a readiness wait: a cancelled
                # loop.sock_accept() could drop (and leak) a connection.
                try:
                    conn, _ = self._socket.accept()
                except (BlockingIOError, InterruptedError):
                    await self._accepting.run(wait_readable(loop, self._socket))
                    continue
                except OSError as error:
                    if error.errno in _TRANSIENT_ACCEPT_ERRORS:
                        continue
                    raise StreamBroken(f"accept() failed: {error}") from error
                return await wrap_socket(conn)

    def close_unless_accepting(self) -> bool:
        """Close at once if no task is inside ``accept()``; True if the listener is closed now.

        A task inside ``accept()`` may have the socket registered with the
        loop, so that case is left to :meth:`aclose`, which wakes it first.
        """
        if self._closed:
            return True
        if self._guard.held:
            return False
        self._closed = True
        self._socket.close()
        self._remove_socket_file()
        return True

    async def aclose(self) -> None:
        """Stop listening; a pending ``accept()`` raises ``StreamClosed``."""
        if self._closed:
            return
        self._closed = True
        try:
            await wait_interrupted(self._accepting)
        finally:
            self._socket.close()
            self._remove_socket_file()

    def _remove_socket_file(self) -> None:
        # Only our own socket file: another server may have bound the path since.
        if self._unlink_path is None:
            return
        try:
            if os.stat(self._unlink_path).st_ino == self._inode:
                os.unlink(self._unlink_path)
        except OSError:
            pass


class StreamServer:
    """Serves connections from listeners with ``handler``; see the module docstring."""

    def __init__(
        self,
        handler: Handler,
        listeners: list[SocketListener],
        *,
        ssl: _ssl.SSLContext | None = None,
        tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        self._handler = handler
        self._listeners = listeners
        self._ssl = ssl
        self._tls_handshake_timeout = tls_handshake_timeout
        self._accept_tasks: set[asyncio.Task[None]] = set()
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._close_requested = asyncio.Event()

    @property
    def listeners(self) -> list[SocketListener]:
        """The listeners this server accepts from."""
        return list(self._listeners)

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening sockets."""
        return [listener.socket for listener in self._listeners]

    @property
    def addresses(self) -> list[Any]:
        """The bound address of each listener (``(host, port ...)`` or a path)."""
        return [listener.socket.getsockname() for listener in self._listeners]

    @property
    def port(self) -> int:
        """The TCP port of the first listener (useful after binding port 0)."""
        port: int = self._listeners[0].socket.getsockname()[1]
        return port

    @property
    def active_connections(self) -> int:
        """How many handlers are running now."""
        return len(self._handler_tasks)

    def start(self) -> None:
        """Start one accept task per listener (``serve_tcp`` already did)."""
        for listener in self._listeners:
            task = asyncio.ensure_future(self._accept_loop(listener))
            self._accept_tasks.add(task)
            task.add_done_callback(self._accept_tasks.discard)

    async def _accept_loop(self, listener: SocketListener) -> None:
        try:
            while True:
                stream = await listener.accept()
                task = asyncio.ensure_future(self._serve_one(stream))
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)
        except StreamClosed:
            pass
        except StreamBroken:
            logger.exception("listener %r failed; it accepts no more connections", listener)
        finally:
            await listener.aclose()

    async def _serve_one(self, stream: ByteStream) -> None:
        try:
            if self._ssl is not None:
                stream = await self._handshake(stream)
            await self._handler(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("connection handler failed for %r", stream.get_extra_info("peername"))
        finally:
            await stream.aclose()

    async def _handshake(self, stream: ByteStream) -> ByteStream:
        from ._tls import TLSStream

        assert self._ssl is not None
        tls = TLSStream.wrap(stream, self._ssl, server_side=True)
        try:
            async with asyncio.timeout(self._tls_handshake_timeout):
                await tls.do_handshake()
        except BaseException:
            await tls.abort()
            raise
        return tls

    def close(self) -> None:
        """Stop accepting new connections; running handlers continue.

        Listeners no task is accepting on (an accept task that has not run
        yet) are closed right here: a task cancelled before its first step
        never reaches its own cleanup.  The others close as their accept
        task unwinds.
        """
        self._close_requested.set()
        for listener in self._listeners:
            listener.close_unless_accepting()
        for task in self._accept_tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        """Wait until the server is closed, its listeners too, and every handler has returned."""
        await self._close_requested.wait()
        while self._accept_tasks or self._handler_tasks:
            await asyncio.wait(self._accept_tasks | self._handler_tasks)
        for listener in self._listeners:
            await listener.aclose()  # idempotent; a listener whose task never ran

    async def serve_forever(self) -> None:
        """Wait until :meth:`close` or :meth:`aclose` is called and everything finished."""
        try:
            await self._close_requested.wait()
        finally:
            await self.aclose()

    async def aclose(self, grace_period: float = 0.0) -> None:
        """Close, give handlers ``grace_period`` seconds to finish, cancel the rest, wait for all."""
        self.close()
        try:
            if self._handler_tasks and grace_period > 0:
                await asyncio.wait(self._handler_tasks, timeout=grace_period)
        finally:
            for task in self._handler_tasks:
                task.cancel()
            await self.wait_closed()

    async def __aenter__(self) -> StreamServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def serve_listeners(
    handler: Handler,
    listeners: list[SocketListener],
    *,
    ssl: _ssl.SSLContext | None = None,
    tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
) -> StreamServer:
    """Start serving ``listeners`` with ``handler``; returns the running server."""
    server = StreamServer(handler, listeners, ssl=ssl, tls_handshake_timeout=tls_handshake_timeout)
    server.start()
    return server


async def serve_tcp(
    handler: Handler,
    host: str | None,
    port: int,
    *,
    ssl: _ssl.SSLContext | None = None,
    backlog: int = DEFAULT_BACKLOG,
    reuse_port: bool = False,
    tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
) -> StreamServer:
    """Listen on ``host``:``port`` (``None``: every interface; port 0: any free port) and serve.

    Each connection runs ``await handler(stream)`` in its own task; with
    ``ssl`` the stream is a server-side ``TLSStream`` whose handshake is done
    before the handler is called.  The stream is closed when the handler
    returns.  ``reuse_port`` sets ``SO_REUSEPORT`` (several processes
    sharing one port).
    """
    listeners = await open_tcp_listeners(port, host=host, backlog=backlog, reuse_port=reuse_port)
    return await serve_listeners(handler, listeners, ssl=ssl, tls_handshake_timeout=tls_handshake_timeout)


async def serve_unix(
    handler: Handler,
    path: str,
    *,
    ssl: _ssl.SSLContext | None = None,
    backlog: int = DEFAULT_BACKLOG,
) -> StreamServer:
    """Listen on the Unix socket ``path`` and serve; the socket file is removed on close."""
    listener = open_unix_listener(path, backlog=backlog)
    return await serve_listeners(handler, [listener], ssl=ssl)


async def open_tcp_listeners(
    port: int, *, host: str | None = None, backlog: int = DEFAULT_BACKLOG, reuse_port: bool = False
) -> list[SocketListener]:
    """Bind and listen on every address of ``host`` (all interfaces when ``None``).

    With ``port=0`` the first socket gets a free port and the others reuse it,
    so a dual-stack listener has one port number.
    """
    if host is None:
        addresses = [(socket.AF_INET6, ("::", port, 0, 0)), (socket.AF_INET, ("0.0.0.0", port))]
        addresses = [address for address in addresses if address[0] != socket.AF_INET6 or socket.has_ipv6]
    else:
        addresses = list(dict.fromkeys(await resolve_with_loop(host, port)))
    listeners: list[SocketListener] = []
    try:
        for family, sockaddr in addresses:
            if port == 0 and listeners:
                sockaddr = (sockaddr[0], listeners[0].socket.getsockname()[1], *sockaddr[2:])
            listeners.append(SocketListener(_bound_socket(family, sockaddr, backlog, reuse_port)))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    return listeners


def _bound_socket(family: socket.AddressFamily, sockaddr: Any, backlog: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # Separate v4 and v6 sockets, as on every other platform.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def open_unix_listener(path: str, *, backlog: int = DEFAULT_BACKLOG) -> SocketListener:
    """Bind and listen on the Unix socket ``path`` (which must not exist yet)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return SocketListener(sock, unlink_on_close=path)
