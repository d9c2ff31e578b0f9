"""Opening stream connections and listening servers (``loop.create_*``).

Each coroutine takes the loop first and otherwise has the signature and
semantics of the ``asyncio.AbstractEventLoop`` method of the same name
(Python 3.11), so ``EventLoop.create_connection`` is a one-line delegation.
Only the public loop API is used (``getaddrinfo``, ``sock_connect``,
``create_future`` ...), so these also run on asyncio's own loop.

Happy Eyeballs (RFC 8305): with ``happy_eyeballs_delay`` the candidate
addresses are interleaved by family (section 4) and a new attempt starts
when the previous one fails or the delay passes (section 5); the first
connected socket wins, every other attempt is cancelled and any socket that
connected too late is closed.

TLS (``ssl=``) hooks in at :func:`start_stream_transport`, the one place a
connected socket becomes a transport: there the application protocol is
wrapped in a :class:`~tidal.loop._tls_transport.TLSProtocol` and the caller
gets the TLS transport once the handshake is done.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import itertools
import logging
import os
import socket
import stat
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tidal.loop._server import Server, ServerTLS
from tidal.loop._tls_transport import TLSProtocol, check_tls_timeouts, client_context
from tidal.loop._transports import StreamTransport

__all__ = [
    "connect_accepted_socket",
    "create_connection",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
    "ensure_resolved",
    "start_stream_transport",
]

logger = logging.getLogger("tidal.loop")

AddrInfo = tuple[int, int, int, str, Any]
ProtocolFactory = Callable[[], asyncio.BaseProtocol]


# -- address resolution --------------------------------------------------------


def numeric_addrinfo(host: Any, port: Any, family: int, type: int, proto: int, *extra: int) -> AddrInfo | None:
    """The addrinfo of a numeric IP ``host``, or None when it needs resolving.

    Skipping getaddrinfo for literal addresses keeps the common loopback and
    IP-literal cases free of a resolver round trip.
    """
    if host is None or proto not in (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP):
        return None
    if type == socket.SOCK_STREAM:
        proto = socket.IPPROTO_TCP
    elif type == socket.SOCK_DGRAM:
        proto = socket.IPPROTO_UDP
    else:
        return None
    port_number = _numeric_port(port)
    if port_number is None:
        return None
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str) or "%" in host:  # inet_pton rejects zone indexes ("::1%lo")
        return None
    families = [socket.AF_INET, socket.AF_INET6] if family == socket.AF_UNSPEC else [family]
    for candidate in families:
        try:
            socket.inet_pton(candidate, host)
        except (OSError, ValueError):
            continue
        if candidate == socket.AF_INET6:
            flowinfo, scope_id = (list(extra) + [0, 0])[:2]
            return candidate, type, proto, "", (host, port_number, flowinfo, scope_id)
        return candidate, type, proto, "", (host, port_number)
    return None


def _numeric_port(port: Any) -> int | None:
    if port is None or port == b"" or port == "":
        return 0
    try:
        return int(port)
    except (TypeError, ValueError):
        return None  # a service name such as "http": let getaddrinfo map it


async def ensure_resolved(
    loop: asyncio.AbstractEventLoop,
    address: Sequence[Any],
    *,
    family: int = 0,
    type: int = socket.SOCK_STREAM,
    proto: int = 0,
    flags: int = 0,
) -> list[AddrInfo]:
    """Addrinfos for ``address`` (host, port[, flowinfo, scope_id]) via loop.getaddrinfo."""
    host, port = address[:2]
    info = numeric_addrinfo(host, port, family, type, proto, *address[2:])
    if info is not None:
        return [info]
    infos = await loop.getaddrinfo(host, port, family=family, type=type, proto=proto, flags=flags)
    return list(infos)


def interleave_addrinfos(infos: Sequence[AddrInfo], first_family_count: int = 1) -> list[AddrInfo]:
    """Alternate address families (RFC 8305 section 4), keeping each family's order."""
    by_family: dict[int, list[AddrInfo]] = collections.OrderedDict()
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    lists = list(by_family.values())
    ordered: list[AddrInfo] = []
    if first_family_count > 1:
        ordered.extend(lists[0][: first_family_count - 1])
        del lists[0][: first_family_count - 1]
    ordered.extend(info for info in itertools.chain.from_iterable(itertools.zip_longest(*lists)) if info is not None)
    return ordered


# -- argument checks shared by the entry points ----------------------------------


def _check_tls_arguments(ssl: Any, ssl_handshake_timeout: float | None, ssl_shutdown_timeout: float | None) -> None:
    if not ssl:
        if ssl_handshake_timeout is not None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    check_tls_timeouts(ssl_handshake_timeout, ssl_shutdown_timeout)


def _check_server_ssl(ssl: Any) -> None:
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")


def _check_not_ssl_socket(sock: socket.socket | None) -> None:
    import ssl as ssl_module  # imported lazily: most programs never need it

    if sock is not None and isinstance(sock, ssl_module.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


def _check_stream_socket(sock: socket.socket) -> None:
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")


# -- the transport seam ----------------------------------------------------------


async def start_stream_transport(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    protocol_factory: ProtocolFactory,
    *,
    ssl: Any = None,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Make a connected socket a transport and wait for connection_made.

    The one place a connected stream socket becomes a transport.  With
    ``ssl`` (an ``SSLContext``, or ``True`` for a default client context)
    the application protocol sits on a TLS transport over the socket's
    transport, and this returns once the handshake completed.
    """
    sock.setblocking(False)
    protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    app_transport: asyncio.Transport
    if ssl:
        context = ssl if server_side else client_context(ssl)
        tls = TLSProtocol(
            loop, protocol, context, waiter, server_side=server_side, server_hostname=server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout,
        )
        transport = StreamTransport(loop, sock, tls)
        app_transport = tls.app_transport
    else:
        transport = app_transport = StreamTransport(loop, sock, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return app_transport, protocol


# -- create_connection -------------------------------------------------------------


async def create_connection(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: ProtocolFactory,
    host: str | None = None,
    port: int | str | None = None,
    *,
    ssl: Any = None,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    sock: socket.socket | None = None,
    local_addr: tuple[str, int] | None = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    happy_eyeballs_delay: float | None = None,
    interleave: int | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Open a TCP connection to ``host``:``port`` (or adopt ``sock``); asyncio's contract."""
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    _check_tls_arguments(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    _check_not_ssl_socket(sock)
    if happy_eyeballs_delay is not None and interleave is None:
        interleave = 1  # RFC 8305 section 4's recommended "First Address Family Count"
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        sock = await _connect_any(loop, host, port, family, proto, flags, local_addr, happy_eyeballs_delay, interleave)
    else:
        if sock is None:
            raise ValueError("host and port was not specified and no sock specified")
        _check_stream_socket(sock)
    return await start_stream_transport(
        loop, sock, protocol_factory, ssl=ssl, server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout,
    )


async def _connect_any(
    loop: asyncio.AbstractEventLoop,
    host: str | None,
    port: int | str | None,
    family: int,
    proto: int,
    flags: int,
    local_addr: tuple[str, int] | None,
    delay: float | None,
    interleave: int | None,
) -> socket.socket:
    infos = await ensure_resolved(loop, (host, port), family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags)
    if not infos:
        raise OSError("getaddrinfo() returned empty list")
    local_infos: list[AddrInfo] | None = None
    if local_addr is not None:
        local_infos = await ensure_resolved(
            loop, local_addr, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
        )
        if not local_infos:
            raise OSError("getaddrinfo() returned empty list")
    if interleave:
        infos = interleave_addrinfos(infos, interleave)
    attempts = _ConnectAttempts(loop, local_infos)
    if delay is None:
        sock = await attempts.one_by_one(infos)
    else:
        sock = await attempts.staggered(infos, delay)
    if sock is None:
        raise attempts.combined_error()
    return sock


class _ConnectAttempts:
    """Connection attempts to a list of addresses and the errors they met."""

    def __init__(self, loop: asyncio.AbstractEventLoop, local_infos: list[AddrInfo] | None) -> None:
        self._loop = loop
        self._local_infos = local_infos
        self._errors: list[OSError] = []

    async def one_by_one(self, infos: Iterable[AddrInfo]) -> socket.socket | None:
        for info in infos:
            try:
                return await self.connect(info)
            except OSError:
                continue
        return None

    async def staggered(self, infos: Sequence[AddrInfo], delay: float) -> socket.socket | None:
        """RFC 8305 section 5: start the next attempt on failure or after ``delay``."""
        remaining = collections.deque(infos)
        pending: set[asyncio.Task[socket.socket]] = set()
        try:
            while remaining or pending:
                if remaining:
                    pending.add(self._loop.create_task(self.connect(remaining.popleft())))
                done, pending = await asyncio.wait(
                    pending, timeout=delay if remaining else None, return_when=asyncio.FIRST_COMPLETED
                )
                winners = [task.result() for task in done if not task.cancelled() and task.exception() is None]
                if winners:
                    for extra in winners[1:]:
                        extra.close()
                    return winners[0]
            return None
        finally:
            await self._cancel(pending)

    @staticmethod
    async def _cancel(pending: set[asyncio.Task[socket.socket]]) -> None:
        if not pending:
            return
        for task in pending:
            task.cancel()
        # Each attempt closes its own socket when cancelled; one that connected
        # just before the cancellation landed is closed here.
        await asyncio.wait(pending)
        for task in pending:
            if not task.cancelled() and task.exception() is None:
                task.result().close()

    async def connect(self, info: AddrInfo) -> socket.socket:
        """One attempt: a socket of the address's family, bound and connected."""
        family, type_, proto, _, address = info
        sock = socket.socket(family=family, type=type_, proto=proto)
        try:
            sock.setblocking(False)
            if self._local_infos is not None:
                self._bind_local(sock, family)
            await self._loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            self._errors.append(exc)
            sock.close()
            raise
        except BaseException:
            sock.close()
            raise

    def _bind_local(self, sock: socket.socket, family: int) -> None:
        assert self._local_infos is not None
        bind_errors: list[OSError] = []
        for local_family, _, _, _, local_address in self._local_infos:
            if local_family != family:
                continue
            try:
                sock.bind(local_address)
                return
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                message = f"error while attempting to bind on address {local_address!r}: {reason}"
                bind_errors.append(OSError(exc.errno, message))
        if bind_errors:
            # Earlier bind errors count among the attempt's errors, like asyncio's.
            self._errors.extend(bind_errors[:-1])
            raise bind_errors[-1]
        raise OSError(f"no matching local address with family={family!r} found")

    def combined_error(self) -> OSError:
        """The error to raise when every address failed (asyncio's rules)."""
        errors = self._errors
        if len(errors) == 1:
            return errors[0]
        model = str(errors[0])
        if all(str(exc) == model for exc in errors):
            return errors[0]
        return OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in errors)))


# -- create_server -----------------------------------------------------------------


async def create_server(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: ProtocolFactory,
    host: str | Sequence[str] | None = None,
    port: int | str | None = None,
    *,
    family: int = socket.AF_UNSPEC,
    flags: int = socket.AI_PASSIVE,
    sock: socket.socket | None = None,
    backlog: int = 100,
    ssl: Any = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
) -> Server:
    """Listen on ``host``:``port`` (every address it resolves to) or on ``sock``."""
    _check_server_ssl(ssl)
    _check_tls_arguments(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    _check_not_ssl_socket(sock)
    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        sockets = await _bind_listeners(loop, host, port, family, flags, reuse_address, reuse_port)
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        _check_stream_socket(sock)
        sockets = [sock]
    tls = ServerTLS(ssl, ssl_handshake_timeout, ssl_shutdown_timeout) if ssl else None
    return await _serve(loop, sockets, protocol_factory, backlog, start_serving, tls)


async def _serve(
    loop: asyncio.AbstractEventLoop,
    sockets: list[socket.socket],
    protocol_factory: ProtocolFactory,
    backlog: int,
    start_serving: bool,
    tls: ServerTLS | None = None,
) -> Server:
    for listener in sockets:
        listener.setblocking(False)
    server = Server(loop, sockets, protocol_factory, backlog, tls=tls)
    if start_serving:
        await server.start_serving()
    return server


async def _bind_listeners(
    loop: asyncio.AbstractEventLoop,
    host: str | Sequence[str] | None,
    port: int | str | None,
    family: int,
    flags: int,
    reuse_address: bool,
    reuse_port: bool | None,
) -> list[socket.socket]:
    if host == "":
        hosts: list[Any] = [None]
    elif isinstance(host, str) or not isinstance(host, Iterable):
        hosts = [host]
    else:
        hosts = list(host)
    resolved = await asyncio.gather(*(_listener_addrinfos(loop, name, port, family, flags) for name in hosts))
    # A set: "localhost" and "127.0.0.1" may resolve to the same address.
    infos = set(itertools.chain.from_iterable(resolved))
    sockets: list[socket.socket] = []
    try:
        for info in infos:
            listener = _listening_socket(loop, info, reuse_address, reuse_port)
            if listener is not None:
                sockets.append(listener)
    except BaseException:
        for listener in sockets:
            listener.close()
        raise
    return sockets


async def _listener_addrinfos(
    loop: asyncio.AbstractEventLoop, host: Any, port: Any, family: int, flags: int
) -> list[AddrInfo]:
    infos = await ensure_resolved(loop, (host, port), family=family, type=socket.SOCK_STREAM, flags=flags)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos


def _listening_socket(
    loop: asyncio.AbstractEventLoop, info: AddrInfo, reuse_address: bool, reuse_port: bool | None
) -> socket.socket | None:
    family, type_, proto, _, address = info
    try:
        sock = socket.socket(family, type_, proto)
    except OSError:
        # e.g. an IPv6 address on a host with IPv6 disabled: skip that family.
        if loop.get_debug():
            logger.warning("create_server() failed to create socket.socket(%r, %r, %r)", family, type_, proto, exc_info=True)
        return None
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
        if reuse_port:
            set_reuse_port(sock)
        if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
            # Without V6ONLY the v6 socket would also claim the v4 port and
            # the v4 socket's bind would fail.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
        try:
            sock.bind(address)
        except OSError as err:
            reason = (err.strerror or str(err)).lower()
            raise OSError(err.errno, f"error while attempting to bind on address {address!r}: {reason}") from None
    except BaseException:
        sock.close()
        raise
    return sock


def set_reuse_port(sock: socket.socket) -> None:
    """Set SO_REUSEPORT, or raise ValueError where the platform lacks it."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        raise ValueError("reuse_port not supported by socket module, SO_REUSEPORT defined but not implemented.")


# -- Unix sockets ------------------------------------------------------------------


async def create_unix_connection(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: ProtocolFactory,
    path: str | bytes | os.PathLike[str] | None = None,
    *,
    ssl: Any = None,
    sock: socket.socket | None = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Connect to the Unix stream socket at ``path`` (or adopt ``sock``)."""
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if ssl and server_hostname is None:
        raise ValueError("you have to pass server_hostname when using ssl")
    _check_tls_arguments(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        sock = await _connect_unix(loop, os.fspath(path))
    else:
        if sock is None:
            raise ValueError("no path and sock were specified")
        _check_unix_stream_socket(sock)
    return await start_stream_transport(
        loop, sock, protocol_factory, ssl=ssl, server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout,
    )


async def _connect_unix(loop: asyncio.AbstractEventLoop, path: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, path)
    except BaseException:
        sock.close()
        raise
    return sock


def _check_unix_stream_socket(sock: socket.socket) -> None:
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")


async def create_unix_server(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: ProtocolFactory,
    path: str | bytes | os.PathLike[str] | None = None,
    *,
    sock: socket.socket | None = None,
    backlog: int = 100,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
) -> Server:
    """Listen on the Unix stream socket ``path`` (or on ``sock``)."""
    _check_server_ssl(ssl)
    _check_tls_arguments(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        sock = _bind_unix_listener(os.fspath(path))
    else:
        if sock is None:
            raise ValueError("path was not specified, and no sock specified")
        _check_unix_stream_socket(sock)
    tls = ServerTLS(ssl, ssl_handshake_timeout, ssl_shutdown_timeout) if ssl else None
    return await _serve(loop, [sock], protocol_factory, backlog, start_serving, tls)


def remove_stale_unix_socket(path: str | bytes) -> None:
    """Delete a socket file left by an earlier server (abstract names have none)."""
    if path[0] in (0, "\x00"):
        return
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)


def _bind_unix_listener(path: str | bytes) -> socket.socket:
    remove_stale_unix_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
        raise
    except BaseException:
        sock.close()
        raise
    return sock


# -- connect_accepted_socket -----------------------------------------------------------


async def connect_accepted_socket(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: ProtocolFactory,
    sock: socket.socket,
    *,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """Wrap a socket accepted elsewhere (e.g. by another framework) in a transport."""
    _check_stream_socket(sock)
    _check_tls_arguments(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    _check_not_ssl_socket(sock)
    return await start_stream_transport(
        loop, sock, protocol_factory, ssl=ssl, server_side=True,
        ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout,
    )
