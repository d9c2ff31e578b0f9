"""Opening client connections: TCP with Happy Eyeballs v2, and Unix sockets.

Theory of operation (RFC 8305)
------------------------------
``open_tcp_stream`` asks for the name's IPv6 and IPv4 addresses *in
parallel* (§3), one lookup per family through the ``family_resolver`` seam
(by default ``loop.getaddrinfo(host, port, family=...)``, which tidal's
loop answers with :mod:`tidal.dns`: one AAAA and one A query).  Connecting
starts as soon as the IPv6 answer is in; when the IPv4 answer comes first,
it waits up to ``resolution_delay`` (50 ms, §3) for the IPv6 one before
starting with IPv4 alone.  Addresses that arrive while attempts are under
way join the list of those not yet tried.

The untried addresses are kept interleaved by family, IPv6 first (§4), and
attempts are staggered: the next one starts when the latest one failed
or ``happy_eyeballs_delay`` (250 ms, §5) after it started, whichever comes
first.  The first socket to connect wins; every other attempt and
lookup is cancelled and its socket closed, including one that connected a
moment too late.  Nothing the call starts outlives it.

The decisions (what to start next, when to wake up) are made by
:class:`ConnectPlan`, a plain object fed with events and the time; the
async driver only carries them out.  A caller that has already resolved the
name may pass ``resolver``, an ``async (host, port) -> [(family, sockaddr)]``
callable, instead; its answer is raced the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ._abc import ByteStream
from ._errors import StreamError
from ._readiness import connect_socket
from ._socket import SocketStream, wrap_socket

__all__ = [
    "ConnectError",
    "Address",
    "Resolver",
    "FamilyResolver",
    "ConnectPlan",
    "open_tcp_stream",
    "open_unix_stream",
    "resolve_with_loop",
    "resolve_family_with_loop",
]

#: One candidate: (address family, socket address as ``socket.connect`` takes it).
Address = tuple[socket.AddressFamily, Any]
#: The name resolution seam: ``await resolver(host, port)`` -> candidates in preference order.
Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]
#: The per-family seam: ``await family_resolver(host, port, family)`` -> that family's candidates.
FamilyResolver = Callable[[str, int, socket.AddressFamily], Awaitable[Sequence[Address]]]

RESOLUTION_DELAY = 0.05
"""Seconds to wait for the IPv6 answer once the IPv4 one is in (RFC 8305 §3)."""
CONNECTION_ATTEMPT_DELAY = 0.25
"""Seconds between the starts of two connection attempts (RFC 8305 §5)."""


class ConnectError(StreamError, OSError):
    """No connection could be made; ``errors`` holds each attempt's ``OSError``."""

    def __init__(self, message: str, errors: Sequence[OSError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)


def _literal(host: str, port: int) -> list[Address] | None:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if literal.version == 6:
        return [(socket.AF_INET6, (str(literal), port, 0, 0))]
    return [(socket.AF_INET, (str(literal), port))]


async def resolve_with_loop(host: str, port: int) -> list[Address]:
    """A numeric address as is, otherwise every address ``loop.getaddrinfo`` gives."""
    literal = _literal(host, port)
    if literal is not None:
        return literal
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(socket.AddressFamily(family), sockaddr) for family, _, _, _, sockaddr in infos]


async def resolve_family_with_loop(host: str, port: int, family: socket.AddressFamily) -> list[Address]:
    """The default :data:`FamilyResolver`: ``loop.getaddrinfo`` for one address family."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return [(socket.AddressFamily(found), sockaddr) for found, _, _, _, sockaddr in infos if found == family]


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
    happy_eyeballs_delay: float = CONNECTION_ATTEMPT_DELAY,
    resolution_delay: float = RESOLUTION_DELAY,
    local_address: str | None = None,
    timeout: float | None = None,
    resolver: Resolver | None = None,
    family_resolver: FamilyResolver | None = None,
) -> ByteStream:
    """Connect to ``host``:``port`` and return the stream (a ``TLSStream`` when ``ssl`` is set).

    The name is resolved and connected to by Happy Eyeballs v2 (see the
    module docstring): ``family_resolver`` answers one family at a time
    (default: the loop's ``getaddrinfo``), or ``resolver`` answers all at
    once; ``resolution_delay`` is how long an IPv4 answer waits for the
    IPv6 one, ``happy_eyeballs_delay`` the stagger between attempts.  ``ssl=True`` uses ``ssl.create_default_context()``;
    ``server_hostname`` overrides the name checked and sent as SNI (default:
    ``host``).  ``local_address`` binds the source address (and limits the
    lookups to its family).  ``timeout`` bounds the whole operation --
    resolution, connecting and the TLS handshake -- and raises
    ``TimeoutError``.  Failure to connect raises :class:`ConnectError`; a
    name that does not resolve raises the lookup's error (``socket.gaierror``).
    """
    async with asyncio.timeout(timeout):
        families = [socket.AF_INET6, socket.AF_INET]
        if local_address is not None:
            families = [socket.AF_INET6 if ":" in local_address else socket.AF_INET]
        lookup = await _lookup_for(host, port, resolver, family_resolver or resolve_family_with_loop)
        sock = await happy_eyeballs_v2_connect(
            host, port, lookup, families, resolution_delay, happy_eyeballs_delay, local_address
        )
        stream = await wrap_socket(sock)
        if ssl is None or ssl is False:
            return stream
        return await _start_tls(stream, ssl, server_hostname or host)


async def _lookup_for(
    host: str, port: int, resolver: Resolver | None, family_resolver: FamilyResolver
) -> FamilyResolver:
    """A per-family lookup: literals answer at once; a whole-answer ``resolver`` is asked first."""
    known = _literal(host, port)
    if known is None and resolver is None:
        return family_resolver
    if known is None:
        assert resolver is not None
        known = list(await resolver(host, port))
    addresses = known

    async def lookup(name: str, number: int, family: socket.AddressFamily) -> Sequence[Address]:
        return [address for address in addresses if address[0] == family]

    return lookup


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


class ConnectPlan:
    """The decisions of one Happy Eyeballs v2 race, without I/O (RFC 8305 §3-§5).

    Feed it lookup and attempt outcomes with the current time; ask
    :meth:`next_attempt` what to start now and :meth:`wake_at` when to ask
    again.
    """

    def __init__(self, families: Sequence[socket.AddressFamily], resolution_delay: float, attempt_delay: float) -> None:
        self.waiting = set(families)
        self.resolution_delay = resolution_delay
        self.attempt_delay = attempt_delay
        self.found: dict[socket.AddressFamily, list[Address]] = {}
        self.tried: set[Address] = set()
        self.hold_until: float | None = None
        self.last_start: float | None = None
        self.latest: Address | None = None  # the attempt started last, while it is running
        self.in_progress = 0
        self.lookup_errors: list[BaseException] = []
        self.attempt_errors: list[tuple[Address, OSError]] = []

    def resolved(self, family: socket.AddressFamily, addresses: Sequence[Address], now: float) -> None:
        """A lookup answered; an IPv4 answer before the IPv6 one starts the resolution delay."""
        self.waiting.discard(family)
        self.found[family] = list(addresses)
        if socket.AF_INET6 not in self.waiting:
            self.hold_until = None
        elif addresses and self.last_start is None and self.hold_until is None:
            self.hold_until = now + self.resolution_delay

    def lookup_failed(self, family: socket.AddressFamily, error: BaseException) -> None:
        """A lookup failed (no such name, no records of the family ...)."""
        self.waiting.discard(family)
        self.lookup_errors.append(error)
        if socket.AF_INET6 not in self.waiting:
            self.hold_until = None

    def attempt_failed(self, address: Address, error: OSError) -> None:
        """A connection attempt failed: if it was the latest one, the next may start at once."""
        self.in_progress -= 1
        if address == self.latest:
            self.latest = None
        self.attempt_errors.append((address, error))

    def untried(self) -> list[Address]:
        """The addresses not yet attempted, interleaved by family, IPv6 first."""
        # Interleave everything known, then drop what was tried: the order stays
        # the RFC 8305 §4 one as attempts proceed and late answers join in.
        ordered = interleave_families([*self.found.get(socket.AF_INET6, ()), *self.found.get(socket.AF_INET, ())])
        return [address for address in ordered if address not in self.tried]

    def next_attempt(self, now: float) -> Address | None:
        """The address to start connecting to now, if one is due."""
        if self.hold_until is not None and now < self.hold_until:
            return None
        self.hold_until = None
        if self.latest is not None and self.last_start is not None and now < self.last_start + self.attempt_delay:
            return None
        queue = self.untried()
        if not queue:
            return None
        self.tried.add(queue[0])
        self.in_progress += 1
        self.last_start, self.latest = now, queue[0]
        return queue[0]

    def wake_at(self) -> float | None:
        """When a timer decision falls due (``None``: only an outcome can change anything)."""
        if self.hold_until is not None:
            return self.hold_until
        if self.latest is not None and self.last_start is not None and self.untried():
            return self.last_start + self.attempt_delay
        return None

    def exhausted(self) -> bool:
        """Nothing is pending and nothing is left to try."""
        return not self.waiting and not self.in_progress and not self.untried()

    def failure(self, host: str) -> BaseException:
        """The error to raise once :meth:`exhausted` without a winner."""
        if not self.tried:
            if self.lookup_errors:
                return self.lookup_errors[-1]
            return ConnectError(f"{host!r} resolved to no usable address")
        summary = "; ".join(f"{address[1]}: {error}" for address, error in self.attempt_errors)
        return ConnectError(f"all connection attempts failed ({summary})", [error for _, error in self.attempt_errors])


async def happy_eyeballs_v2_connect(
    host: str,
    port: int,
    lookup: FamilyResolver,
    families: Sequence[socket.AddressFamily] = (socket.AF_INET6, socket.AF_INET),
    resolution_delay: float = RESOLUTION_DELAY,
    attempt_delay: float = CONNECTION_ATTEMPT_DELAY,
    local_address: str | None = None,
) -> socket.socket:
    """Resolve ``host`` per family in parallel and race connections (RFC 8305); return the winner."""
    loop = asyncio.get_running_loop()
    plan = ConnectPlan(families, resolution_delay, attempt_delay)
    lookups: dict[asyncio.Future[Sequence[Address]], socket.AddressFamily] = {
        asyncio.ensure_future(lookup(host, port, family)): family for family in families
    }
    attempts: dict[asyncio.Future[socket.socket], Address] = {}
    try:
        while True:
            while (address := plan.next_attempt(loop.time())) is not None:
                attempts[asyncio.ensure_future(_connect_one(address, local_address))] = address
            if plan.exhausted():
                raise plan.failure(host)
            wake_at = plan.wake_at()
            timeout = None if wake_at is None else max(0.0, wake_at - loop.time())
            pending: list[asyncio.Future[Any]] = [*lookups, *attempts]
            done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                if future in lookups:
                    _record_lookup(plan, lookups.pop(future), future, loop.time())
            winner = _collect_attempts(plan, attempts, done)
            if winner is not None:
                return winner
    finally:
        await _discard_attempts([*lookups, *attempts])


def _record_lookup(
    plan: ConnectPlan, family: socket.AddressFamily, future: asyncio.Future[Sequence[Address]], now: float
) -> None:
    error = future.exception()
    if error is None:
        plan.resolved(family, future.result(), now)
    elif isinstance(error, OSError):
        plan.lookup_failed(family, error)
    else:
        raise error


def _collect_attempts(
    plan: ConnectPlan, attempts: dict[asyncio.Future[socket.socket], Address], done: set[Any]
) -> socket.socket | None:
    winner: socket.socket | None = None
    for future in [future for future in attempts if future in done]:
        address = attempts.pop(future)
        error = future.exception()
        if error is None and winner is None:
            winner = future.result()
        elif error is None:
            future.result().close()  # two connected in the same instant
        elif isinstance(error, OSError):
            plan.attempt_failed(address, error)
        else:
            raise error
    return winner


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


async def _discard_attempts(pending: Iterable[asyncio.Future[Any]]) -> None:
    futures = list(pending)
    for future in futures:
        future.cancel()
    results = await asyncio.gather(*futures, return_exceptions=True)
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
        await connect_socket(asyncio.get_running_loop(), sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_unix_stream(path: str) -> SocketStream:
    """Connect to the Unix-domain stream socket at ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await connect_socket(asyncio.get_running_loop(), sock, path)
    except OSError as error:
        sock.close()
        raise ConnectError(f"cannot connect to Unix socket {path!r}: {error}", [error]) from error
    except BaseException:
        sock.close()
        raise
    return await wrap_socket(sock)
