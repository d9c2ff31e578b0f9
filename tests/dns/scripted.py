"""A scripted DNS peer on loopback: answers each query however the test says.

``respond(query, wire)`` receives the parsed query (a ``dns.message.Message``)
and its bytes, and returns the datagrams to send back, each as ``(wire, sender)`` where
``sender`` is ``None`` (the server's own socket) or another socket (a spoofer
on a different port or address).  An optional TCP listener on the same port
answers through ``respond_tcp``.  Everything closes on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

Reply = tuple[bytes, "socket.socket | None"]
Respond = Callable[[dns.message.Message, bytes], Sequence[Reply]]


@dataclass
class ScriptedPeer:
    """What the peer saw: queries, their source addresses, raw wires."""

    port: int
    queries: list[dns.message.Message] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    wires: list[bytes] = field(default_factory=list)
    tcp_queries: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    transport: asyncio.DatagramTransport | None = None

    def reply(self, wire: bytes, address: Any) -> None:
        """Send ``wire`` to ``address`` from the peer's socket (a late answer)."""
        assert self.transport is not None
        self.transport.sendto(wire, address)

    @property
    def address(self) -> str:
        """``127.0.0.1:port`` for :class:`tidal.dns.Resolver`."""
        return f"127.0.0.1:{self.port}"


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, peer: ScriptedPeer, respond: Respond) -> None:
        self.peer, self.respond = peer, respond
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = self.peer.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        self.peer.queries.append(query)
        self.peer.sources.append(addr)
        self.peer.wires.append(data)
        self.peer.arrived.set()
        for wire, sender in self.respond(query, data):
            if sender is None:
                assert self.transport is not None
                self.transport.sendto(wire, addr)
            else:
                sender.sendto(wire, addr)


@contextlib.asynccontextmanager
async def scripted_peer(respond: Respond, respond_tcp: Respond | None = None) -> AsyncIterator[ScriptedPeer]:
    """Run a scripted peer on 127.0.0.1 (UDP, plus TCP on the same port if ``respond_tcp``)."""
    loop = asyncio.get_running_loop()
    server: asyncio.Server | None = None
    for _ in range(20):  # the TCP port must be the UDP one; retry if it is taken
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Protocol(ScriptedPeer(0), respond), local_addr=("127.0.0.1", 0)
        )
        port = transport.get_extra_info("sockname")[1]
        if respond_tcp is None:
            break
        try:
            server = await asyncio.start_server(_tcp_handler(protocol.peer, respond_tcp), "127.0.0.1", port)
            break
        except OSError:
            transport.close()
    else:
        raise RuntimeError("no port free for both UDP and TCP")
    protocol.peer.port = port
    try:
        yield protocol.peer
    finally:
        transport.close()
        if server is not None:
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0)  # let the transports' close callbacks run


def _tcp_handler(peer: ScriptedPeer, respond: Respond) -> Callable[..., Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            data = await reader.readexactly(length)
            peer.tcp_queries += 1
            for wire, _ in respond(dns.message.from_wire(data), data):
                writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the resolver may hang up first (after a malformed answer, or a timeout)
        finally:
            writer.close()

    return handle


def answer(query: dns.message.Message, *addresses: str, ttl: int = 60, flags: int = 0) -> bytes:
    """A NOERROR response with A records (none: NODATA)."""
    response = dns.message.make_response(query)
    if addresses:
        response.answer.append(dns.rrset.from_text(query.question[0].name, ttl, "IN", "A", *addresses))
    response.flags |= flags
    return response.to_wire(max_size=65535)  # may exceed what the query advertised: tests send oversize


def with_rcode(query: dns.message.Message, rcode: int, soa_minimum: int | None = None) -> bytes:
    """An error or negative response; with ``soa_minimum`` an SOA in authority (RFC 2308)."""
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.Rcode.make(rcode))
    if soa_minimum is not None:
        soa = f"ns.test. admin.test. 1 3600 600 86400 {soa_minimum}"
        response.authority.append(dns.rrset.from_text("test.", 3600, "IN", "SOA", soa))
    return response.to_wire()


def question_bytes(wire: bytes) -> bytes:
    """The question section of a query's wire (name, type, class)."""
    position = 12
    while wire[position]:
        position += 1 + wire[position]
    return wire[12:position + 5]


def pointer_loop(query_wire: bytes) -> bytes:
    """A response whose answer owner name is a compression pointer to itself."""
    question = question_bytes(query_wire)
    header = query_wire[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
    offset = len(header) + len(question)
    record = struct.pack("!HHHIH", 0xC000 | offset, 1, 1, 60, 4) + bytes([6, 6, 6, 6])
    return header + question + record


def loopback_sender(address: str = "127.0.0.1") -> socket.socket:
    """A UDP socket bound to ``address`` on a kernel-chosen port (a spoofer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock
