"""Opening client connections: TCP with Happy Eyeballs, and Unix sockets.

Theory of operation
-------------------
``open_tcp_stream`` resolves the name, orders the addresses the way RFC 8305
§4 asks (alternate address families, starting with the resolver's first
choice), and races connection attempts: the next attempt starts when the
previous one failed or after ``happy_eyeballs_delay`` seconds (RFC 8305 §5
recommends 250 ms), whichever comes first.  The first socket to connect wins;
every other attempt is cancelled and its socket closed, including one that
connected a moment too late.  No attempt task outlives the call.

Name resolution is a seam: ``resolver`` is any ``async (host, port) ->
[(family, sockaddr), ...]`` callable.  By default it is the loop's
``getaddrinfo`` (numeric addresses skip it); ``tidal.dns`` plugs in here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._abc import ByteStream
from ._errors import StreamError
from ._socket import SocketStream, wrap_socket

__all__ = ["ConnectError", "Address", "Resolver", "open_tcp_stream", "open_unix_stream", "resolve_with_loop"]

#: One candidate: (address family, socket address as ``socket.connect`` takes it).
Address = tuple[socket.AddressFamily, Any]
#: The name resolution seam: ``await resolver(host, port)`` -> candidates in preference order.
Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]


class ConnectError(StreamError, OSError):
    """No connection could be made; ``errors`` holds each attempt's ``OSError``."""

    def __init__(self, message: str, errors: Sequence[OSError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


async def resolve_with_loop(host: str, port: int) -> list[Address]:
    """The default resolver: a numeric address as is, otherwise ``loop.getaddrinfo``."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        if literal.version == 6:
            return [(socket.AF_INET6, (str(literal), port, 0, 0))]
        return [(socket.AF_INET, (str(literal), port))]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(socket.AddressFamily(family), sockaddr) for family, _, _, _, sockaddr in infos]


def interleave_families(addresses: Sequence[Address]) -> list[Address]:
    """RFC 8305 §4: alternate families, starting with the first one given; drop duplicates."""
    unique = list(dict.fromkeys(addresses))
    if not unique:
        return []
    first_family = unique[0][0]
    preferred = [a for a in unique if a[0] == first_family]
    others = [a for a in unique if a[0] != first_family]
    ordered: list[Address] = []
    for index in range(max(len(preferred), len(others))):
        ordered.extend(group[index] for group in (preferred, others) if index < len(group))
    return ordered


async def open_tcp_stream(
    host: str,
    port: int,
    *,
    ssl: None | bool | _ssl.SSLContext = None,
    server_hostname: str | None = None,
    happy_eyeballs_delay: float = 0.25,
    local_address: str | None = None,
    timeout: float | None = None,
    resolver: Resolver | None = None,
) -> ByteStream:
    """Connect to ``host``:``port`` and return the stream (a ``TLSStream`` when ``ssl`` is set).

    ``ssl=True`` uses ``ssl.create_default_context()``; ``server_hostname``
    overrides the name checked and sent as SNI (default: ``host``).
    ``local_address`` binds the source address.  ``timeout`` bounds the
    whole operation -- resolution, connecting and the TLS handshake -- and
    raises ``TimeoutError``.  Failure to connect raises :class:`ConnectError`.
    """
    async with asyncio.timeout(timeout):
        addresses = await (resolver or resolve_with_loop)(host, port)
        if local_address is not None:
            addresses = _matching_family(addresses, local_address)
        if not addresses:
            raise ConnectError(f"{host!r} resolved to no usable address")
        sock = await happy_eyeballs_connect(interleave_families(addresses), happy_eyeballs_delay, local_address)
        stream = await wrap_socket(sock)
        if ssl is None or ssl is False:
            return stream
        return await _start_tls(stream, ssl, server_hostname or host)


async def _start_tls(stream: SocketStream, ssl: bool | _ssl.SSLContext, server_hostname: str) -> ByteStream:
    from ._tls import TLSStream

    context = _ssl.create_default_context() if ssl is True else ssl
    assert isinstance(context, _ssl.SSLContext)
    tls = TLSStream.wrap(stream, context, server_hostname=server_hostname)
    try:
        await tls.do_handshake()
    except BaseException:
        await tls.abort()
        raise
    return tls


def _matching_family(addresses: Sequence[Address], local_address: str) -> list[Address]:
    family = socket.AF_INET6 if ":" in local_address else socket.AF_INET
    return [address for address in addresses if address[0] == family]


async def happy_eyeballs_connect(
    addresses: Sequence[Address], delay: float, local_address: str | None = None
) -> socket.socket:
    """Race connection attempts as RFC 8305 §5 describes; return the winning socket."""
    pending: dict[asyncio.Task[socket.socket], Address] = {}
    failures: list[tuple[Address, OSError]] = []
    try:
        for address in addresses:
            pending[asyncio.ensure_future(_connect_one(address, local_address))] = address
            winner = await _wait_for_progress(pending, failures, delay)
            if winner is not None:
                return winner
        while pending:
            winner = await _wait_for_progress(pending, failures, None)
            if winner is not None:
                return winner
    finally:
        await _discard_attempts(pending)
    summary = "; ".join(f"{address[1]}: {error}" for address, error in failures)
    raise ConnectError(f"all connection attempts failed ({summary})", [error for _, error in failures])


async def _wait_for_progress(
    pending: dict[asyncio.Task[socket.socket], Address], failures: list[tuple[Address, OSError]], delay: float | None
) -> socket.socket | None:
    """Wait until an attempt finishes or ``delay`` passes; return a winner if one connected."""
    done, _ = await asyncio.wait(pending, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    winner: socket.socket | None = None
    for task in done:
        address = pending.pop(task)
        error = task.exception()
        if error is None and winner is None:
            winner = task.result()
        elif error is None:
            task.result().close()  # two connected in the same instant
        elif isinstance(error, OSError):
            failures.append((address, error))
        else:
            raise error
    return winner


async def _discard_attempts(pending: dict[asyncio.Task[socket.socket], Address]) -> None:
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        if isinstance(result, socket.socket):
            result.close()  # connected just before the cancellation landed


async def _connect_one(address: Address, local_address: str | None) -> socket.socket:
    family, sockaddr = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if local_address is not None:
            sock.bind((local_address, 0))
        await asyncio.get_running_loop().sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_unix_stream(path: str) -> SocketStream:
    """Connect to the Unix-domain stream socket at ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, path)
    except OSError as error:
        sock.close()
        raise ConnectError(f"cannot connect to Unix socket {path!r}: {error}", [error]) from error
    except BaseException:
        sock.close()
        raise
    return await wrap_socket(sock)
