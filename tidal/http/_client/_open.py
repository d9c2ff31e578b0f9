"""Opening a new connection: resolve, connect (Happy Eyeballs), TLS -- each step timed.

A name is resolved one address family at a time (AAAA and A in parallel,
through ``Resolver.stream_addresses`` or the loop's ``getaddrinfo``) and the
answers feed Happy Eyeballs v2 as they arrive (RFC 8305 §3): connecting
starts with the first usable answer instead of waiting for both, so a
nameserver that is slow to answer AAAA costs at most the 50 ms resolution
delay.  ``dns.end`` is traced at that first answer.

The three steps run under the request's ``connect`` budget (and its total
deadline) as one unit.  Whatever step fails or is cancelled, the socket
opened so far is closed before the error leaves, so a timeout or a
cancellation never leaks a descriptor.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...dns import Resolver
from ...protocols.http import HTTPLimits
from ...streams import Address, ByteStream, TLSStream, open_tcp_stream, open_unix_stream
from ...streams._connect import FamilyResolver, resolve_family_with_loop
from ._connection import Connection, ConnectTiming
from ._errors import translate
from ._timeouts import Deadlines
from ._urls import Origin

__all__ = ["ConnectOptions", "open_connection", "resolve_address"]


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How the client opens connections (fixed per client)."""

    ssl_context: ssl.SSLContext | None
    http_limits: HTTPLimits
    resolver: Resolver | None = None
    uds: str | None = None
    local_address: str | None = None
    happy_eyeballs_delay: float = 0.25


async def resolve_address(host: str, port: int, resolver: Resolver | None) -> list[Address]:
    """Candidate addresses for ``host``: literal IPs as they are, else tidal's resolver or the loop's."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if literal.version == 6:
            return [(socket.AF_INET6, (str(literal), port, 0, 0))]
        return [(socket.AF_INET, (str(literal), port))]
    if resolver is not None:
        infos: Sequence[Any] = await resolver.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    else:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(socket.AddressFamily(info[0]), info[4]) for info in infos]


async def open_connection(
    origin: Origin, options: ConnectOptions, deadlines: Deadlines, *, tunnel: Any = None,
    connect_to: tuple[str, int] | None = None,
) -> Connection:
    """A new :class:`Connection` to ``origin`` (through ``connect_to``, e.g. a proxy, when given).

    ``tunnel``, if given, is awaited with the plain stream before TLS starts
    (the proxy's CONNECT exchange) and returns the stream to continue on.
    """
    timing = ConnectTiming()
    try:
        stream = await deadlines.run("connect", _establish(origin, options, deadlines, timing, tunnel, connect_to))
    except BaseException as exc:
        error = translate(exc, "connect", deadlines.request)
        if error is exc:
            raise
        raise error from exc
    return Connection(stream, origin, options.http_limits, timing)


async def _establish(
    origin: Origin, options: ConnectOptions, deadlines: Deadlines, timing: ConnectTiming, tunnel: Any,
    connect_to: tuple[str, int] | None,
) -> ByteStream:
    scheme, host, port = origin
    started = deadlines.now()
    if options.uds is not None:
        deadlines.emit("connect.start", path=options.uds)
        stream: ByteStream = await open_unix_stream(options.uds)
        timing.connect = deadlines.now() - started
        deadlines.emit("connect.end", path=options.uds)
    else:
        target_host, target_port = connect_to if connect_to is not None else (host, port)
        deadlines.emit("dns.start", host=target_host)
        base = options.resolver.stream_addresses if options.resolver is not None else resolve_family_with_loop
        lookup = _TracedLookup(base, deadlines, timing, started, target_port)
        if _is_literal(target_host):  # nothing to look up; the trace still shows each step
            lookup.answered(target_host, await resolve_address(target_host, target_port, None))
        stream = await open_tcp_stream(
            target_host, target_port, family_resolver=lookup, local_address=options.local_address,
            happy_eyeballs_delay=options.happy_eyeballs_delay,
        )
        timing.connect = deadlines.now() - started - timing.dns
        deadlines.emit("connect.end", peer=stream.get_extra_info("peername"))
    try:
        if tunnel is not None:
            stream = await tunnel(stream)
        if scheme == "https":
            assert options.ssl_context is not None
            handshake_started = deadlines.now()
            deadlines.emit("tls.start", server_hostname=host)
            tls = TLSStream.wrap(stream, options.ssl_context, server_hostname=host)
            stream = tls
            await tls.do_handshake()
            timing.tls = deadlines.now() - handshake_started
            deadlines.emit("tls.end", version=tls.tls_version, alpn=tls.alpn_protocol)
    except BaseException:
        await _abort(stream)
        raise
    return stream


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _TracedLookup:
    """A per-family lookup that records the first answer: ``dns.end``, DNS timing, ``connect.start``."""

    def __init__(
        self, base: FamilyResolver, deadlines: Deadlines, timing: ConnectTiming, started: float, port: int
    ) -> None:
        self._base = base
        self._deadlines = deadlines
        self._timing = timing
        self._started = started
        self._port = port
        self._answered = False

    async def __call__(self, host: str, port: int, family: socket.AddressFamily) -> list[Address]:
        addresses = list(await self._base(host, port, family))
        self.answered(host, addresses)
        return addresses

    def answered(self, host: str, addresses: list[Address]) -> None:
        """Trace the first non-empty answer (later ones join the race silently)."""
        if not addresses or self._answered:
            return
        self._answered = True
        deadlines = self._deadlines
        self._timing.dns = deadlines.now() - self._started
        deadlines.emit("dns.end", host=host, addresses=[address[1] for address in addresses])
        deadlines.emit("connect.start", host=host, port=self._port)


async def _abort(stream: ByteStream) -> None:
    if isinstance(stream, TLSStream):
        await stream.abort()
    else:
        await stream.aclose()
