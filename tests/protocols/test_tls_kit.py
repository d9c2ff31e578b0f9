"""Shared helpers for the TLS engine tests (no tests of its own).

Certificates come from trustme; engines talk through :class:`Peer`, which
feeds each transfer in pieces chosen by the test (whole, byte by byte, or
random splits) and records what came out.
"""

from __future__ import annotations

import functools
import itertools
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import trustme

from tidal.protocols.tls import (
    NEED_DATA,
    Data,
    EndOfStream,
    Event,
    HandshakeComplete,
    TLSEngine,
    TLSState,
)

HOSTNAME = "tidal.example"


@functools.cache
def ca() -> trustme.CA:
    """The test suite's trusted certificate authority."""
    return trustme.CA()


@functools.cache
def server_cert() -> trustme.LeafCert:
    """A certificate for :data:`HOSTNAME` and 127.0.0.1, issued by :func:`ca`."""
    return ca().issue_cert(HOSTNAME, "127.0.0.1", "localhost")


@functools.cache
def client_cert() -> trustme.LeafCert:
    """A client certificate issued by :func:`ca`."""
    return ca().issue_cert("client@tidal.example")


def server_context(
    cert: trustme.LeafCert | None = None,
    *,
    alpn: list[str] | None = None,
    require_client_cert: bool = False,
    version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A server context; ``version`` pins both the minimum and maximum."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    (cert or server_cert()).configure_cert(context)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        ca().configure_trust(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    return context


def client_context(
    authority: trustme.CA | None = None,
    *,
    cert: trustme.LeafCert | None = None,
    alpn: list[str] | None = None,
    version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A verifying client context trusting ``authority`` (default: :func:`ca`)."""
    context = ssl.create_default_context()
    (authority or ca()).configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    return context





def whole(size: int) -> Iterator[int]:
    """One piece."""
    yield size


def byte_by_byte(size: int) -> Iterator[int]:
    """Pieces of one byte."""
    return itertools.repeat(1, size)


def cycling(sizes: list[int]) -> Callable[[int], Iterator[int]]:
    """Pieces of the given sizes, repeated as long as needed."""
    return lambda size: itertools.cycle(sizes)


@dataclass
class Peer:
    """An engine plus what it has reported so far."""

    engine: TLSEngine
    splitter: Callable[[int], Iterator[int]] = whole
    received: bytearray = field(default_factory=bytearray)
    events: list[Event] = field(default_factory=list)  # every event but Data and NEED_DATA

    def feed(self, data: bytes) -> None:
        """Give ``data`` to the engine in this peer's pieces, reading after each;
        ``b""`` feeds the transport's EOF."""
        if not data:
            self.engine.receive_data(b"")
            self.pump()
            return
        offset = 0
        for size in self.splitter(len(data)):
            if offset >= len(data):
                break
            self.engine.receive_data(data[offset : offset + size])
            offset += size
            self.pump()

    def pump(self) -> None:
        """Read events until the engine needs data or the stream ended."""
        if self.engine.state is TLSState.ERROR or self.ended:
            return
        while True:
            event = self.engine.next_event()
            if event is NEED_DATA:
                return
            if isinstance(event, Data):
                assert event.data, "Data events are never empty"
                self.received += event.data
                continue
            self.events.append(event)
            if isinstance(event, EndOfStream):
                return

    @property
    def ended(self) -> bool:
        """True once an EndOfStream event was seen."""
        return any(isinstance(event, EndOfStream) for event in self.events)

    @property
    def handshake_events(self) -> list[HandshakeComplete]:
        """The HandshakeComplete events seen."""
        return [event for event in self.events if isinstance(event, HandshakeComplete)]


def transfer(source: Peer, destination: Peer) -> int:
    """Move everything ``source`` has to send; returns the byte count."""
    data = source.engine.data_to_send()
    if data:
        destination.feed(data)
    return len(data)


def converse(client: Peer, server: Peer, *, max_rounds: int = 50) -> None:
    """Pump and shuttle bytes both ways until neither side has more to say."""
    client.pump()
    server.pump()
    for _ in range(max_rounds):
        if transfer(client, server) + transfer(server, client) == 0:
            return
    raise AssertionError(f"the engines were still talking after {max_rounds} rounds")


def connected(
    client_ctx: ssl.SSLContext | None = None,
    server_ctx: ssl.SSLContext | None = None,
    *,
    hostname: str | None = HOSTNAME,
    splitter: Callable[[int], Iterator[int]] = whole,
    **client_options: object,
) -> tuple[Peer, Peer]:
    """A client and a server peer that have completed their handshake."""
    client, server = make_peers(client_ctx, server_ctx, hostname=hostname, splitter=splitter, **client_options)
    converse(client, server)
    return client, server


def make_peers(
    client_ctx: ssl.SSLContext | None = None,
    server_ctx: ssl.SSLContext | None = None,
    *,
    hostname: str | None = HOSTNAME,
    splitter: Callable[[int], Iterator[int]] = whole,
    **client_options: object,
) -> tuple[Peer, Peer]:
    """A client and a server peer before any byte was exchanged."""
    client = TLSEngine.client(client_ctx or client_context(), hostname, **client_options)  # type: ignore[arg-type]
    server = TLSEngine.server(server_ctx or server_context())
    return Peer(client, splitter), Peer(server, splitter)


def chunks(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """``data`` cut into pieces of the given sizes (the last may be shorter)."""
    offset = 0
    for size in sizes:
        if offset >= len(data):
            return
        yield data[offset : offset + size]
        offset += size
