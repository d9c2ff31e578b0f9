"""One query, one server, one try: the UDP and TCP exchanges.

Theory of operation
-------------------
UDP (RFC 1035 §4.2.1, RFC 5452): every try opens a *fresh* datagram socket
and ``connect()``\\ s it to the server, so the kernel picks a random
ephemeral source port for it, drops datagrams from any other address, and
reports ICMP "port unreachable" as ``ConnectionRefusedError`` (a dead server
is given up at once instead of at the timeout).  The query's ID is random
(:func:`tidal.protocols.dns.build_query` draws it from :mod:`secrets`).
Every datagram that arrives is still checked by
:func:`~tidal.protocols.dns.match_response` -- source address, ID, question
name (case-exact with 0x20), type and class -- and anything that does not
match, or does not parse, is *dropped* while the wait goes on: an off-path
attacker must not be able to end a query early by sending garbage.  A
datagram larger than the payload the query advertised (1232 bytes in
EDNS0, RFC 6891 §6.2.3; 512 without it) is dropped the same way.
Each malformed datagram's error is appended to the caller's ``rejected``
list as it arrives, so that even a try cut short by the query's deadline
can report what it got.

Receiving uses the loop's public API only: ``loop.sock_recvfrom`` where the
loop implements it (tidal's loop, asyncio's), and ``add_reader`` plus a
non-blocking ``recvfrom`` where it does not (uvloop).  Nothing blocks and
no thread is used.

TCP (RFC 7766): on a truncated UDP answer, or when asked, the same query is
sent length-prefixed on a new connection made through
:func:`tidal.streams.wrap_socket`, and the response frames are read with
:class:`~tidal.protocols.dns.TCPFrameDecoder`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tidal.protocols.dns import (
    EDNS_PAYLOAD,
    BadResponse,
    MismatchedResponse,
    Query,
    Response,
    TCPFrameDecoder,
    frame_message,
    match_response,
)
from tidal.streams import ByteStream, wrap_socket

from ._config import Nameserver

__all__ = ["TryTimedOut", "udp_exchange", "tcp_exchange"]

_MAX_DATAGRAM = 65535
# Loop classes whose sock_recvfrom raised NotImplementedError (uvloop).
_NO_SOCK_RECVFROM: set[type] = set()


class TryTimedOut(Exception):
    """This try's wait ended without an acceptable response."""


async def udp_exchange(
    query: Query, server: Nameserver, wait_until: float, rejected: list[str] | None = None,
    *, max_size: int = EDNS_PAYLOAD, loop: asyncio.AbstractEventLoop | None = None,
) -> Response:
    """Send ``query`` to ``server`` over UDP and return the matching response.

    Malformed datagrams, and any larger than ``max_size`` (the payload the
    query advertised), are dropped and described in ``rejected``
    (``"ip:port: reason"``).  Raises :class:`TryTimedOut` at ``wait_until``
    (loop time), or the ``OSError`` of the socket (ICMP unreachable, no route).
    ``loop`` is the running loop when the caller has it at hand.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    sock = socket.socket(server.family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(server.sockaddr)  # a UDP connect sends nothing: it picks the source port
        sock.send(query.wire)
        return await _await_match(
            loop, sock, query, server, wait_until, [] if rejected is None else rejected, max_size
        )
    finally:
        sock.close()


async def _await_match(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, query: Query, server: Nameserver, wait_until: float,
    rejected: list[str], max_size: int,
) -> Response:
    sockaddr = server.sockaddr
    try:
        async with asyncio.timeout_at(wait_until):
            while True:
                data, source = await _receive(loop, sock)
                try:
                    return match_response(
                        query, data, sent_to=sockaddr, received_from=source, max_size=max_size
                    )
                except MismatchedResponse:
                    continue  # spoofed or stale: not an answer, and not an error of the server
                except BadResponse as error:
                    rejected.append(f"{server}: {error}")
    except TimeoutError:
        raise TryTimedOut(f"no response from {server}") from None


async def _receive(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[bytes, Any]:
    # No recvfrom is tried first here: right after the send the answer is
    # never there yet, and the loops' sock_recvfrom try the syscall anyway.
    if type(loop) not in _NO_SOCK_RECVFROM:
        try:
            return await loop.sock_recvfrom(sock, _MAX_DATAGRAM)
        except NotImplementedError:
            _NO_SOCK_RECVFROM.add(type(loop))
    while True:
        await _readable(loop, sock)
        try:
            return sock.recvfrom(_MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            continue


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    waiter: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_reader(fd)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def tcp_exchange(
    query: Query, server: Nameserver, wait_until: float, *, loop: asyncio.AbstractEventLoop | None = None
) -> Response:
    """Send ``query`` to ``server`` over TCP and return the matching response.

    Raises :class:`TryTimedOut` at ``wait_until``, :class:`BadResponse` for a
    malformed frame or a connection closed before the answer, and the
    ``OSError`` of a failed connection.  ``loop``: as for :func:`udp_exchange`.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(wait_until):
            sock = socket.socket(server.family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, server.sockaddr)
            except BaseException:
                sock.close()
                raise
            async with await wrap_socket(sock) as stream:
                await stream.send_all(frame_message(query.wire))
                return await _read_tcp_answer(stream, query, server)
    except TimeoutError:
        raise TryTimedOut(f"no response from {server} over TCP") from None


async def _read_tcp_answer(stream: ByteStream, query: Query, server: Nameserver) -> Response:
    decoder = TCPFrameDecoder()
    sockaddr = server.sockaddr
    while True:
        data = await stream.receive_some(_MAX_DATAGRAM)
        for message in decoder.feed(data):
            try:
                return match_response(query, message, sent_to=sockaddr, received_from=sockaddr)
            except MismatchedResponse:
                continue  # an answer to some other query on this connection
        if not data:
            raise BadResponse(f"{server} closed the TCP connection without answering")
