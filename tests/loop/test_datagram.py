"""Datagram endpoints (UDP and Unix datagram) on both loops."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from tidal.loop import _datagram, _transports

Run = Callable[..., Any]


class Datagrams(asyncio.DatagramProtocol):
    """Queues received datagrams and errors for the test to await."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[OSError] = asyncio.Queue()
        self.transport: Any = None
        self.lost = asyncio.get_running_loop().create_future()
        self.paused = 0
        self.resumed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        assert isinstance(exc, OSError)
        self.errors.put_nowait(exc)

    def pause_writing(self) -> None:
        self.paused += 1

    def resume_writing(self) -> None:
        self.resumed += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def endpoint(loop: asyncio.AbstractEventLoop, **kwargs: Any) -> tuple[Any, Datagrams]:
    transport, protocol = await _datagram.create_datagram_endpoint(loop, Datagrams, **kwargs)
    assert isinstance(protocol, Datagrams)
    return transport, protocol


async def close_all(*transports: Any) -> None:
    for transport in transports:
        transport.close()
    for transport in transports:
        await transport.get_protocol().lost


def test_sendto_and_receive(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, server_proto = await endpoint(loop, local_addr=("127.0.0.1", 0))
        server_addr = server.get_extra_info("sockname")
        client, client_proto = await endpoint(loop, remote_addr=server_addr)
        assert isinstance(client, asyncio.DatagramTransport)
        assert client.get_extra_info("peername") == server_addr
        client.sendto(b"one")
        client.sendto(bytearray(b"two"), server_addr)  # the fixed peer may be repeated
        data, client_addr = await server_proto.received.get()
        assert data == b"one"
        assert (await server_proto.received.get())[0] == b"two"
        server.sendto(memoryview(b"reply"), client_addr)
        assert await client_proto.received.get() == (b"reply", server_addr)
        with pytest.raises(ValueError, match="Invalid address: must be None or"):
            client.sendto(b"x", ("127.0.0.1", 9))
        with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
            client.sendto("text")
        client.sendto(b"")  # Python 3.11 sends nothing for an empty datagram
        await close_all(client, server)
        assert server_proto.received.empty()

    run(main())


def test_connection_refused_goes_to_error_received(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        closed = socket.socket(type=socket.SOCK_DGRAM)
        closed.bind(("127.0.0.1", 0))
        address = closed.getsockname()
        closed.close()  # nobody listens there now: the kernel answers with ICMP
        client, protocol = await endpoint(loop, remote_addr=address)
        client.sendto(b"anyone?")
        error = await protocol.errors.get()
        assert isinstance(error, ConnectionRefusedError)
        assert not client.is_closing()  # not fatal
        await close_all(client)

    run(main())


async def unix_pair(loop: asyncio.AbstractEventLoop) -> tuple[Any, Datagrams, Any, Datagrams]:
    """Two endpoints over a Unix datagram socketpair.

    Unlike UDP on loopback (where the kernel drops what the receiver cannot
    queue), a full Unix datagram queue makes the sender's send() fail with
    EAGAIN, so the transport's queueing path can be exercised for real.
    """
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender, sender_proto = await endpoint(loop, sock=left)
    receiver, receiver_proto = await endpoint(loop, sock=right)
    return sender, sender_proto, receiver, receiver_proto


def test_write_buffer_and_flow_control(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        sender, protocol, receiver, receiver_proto = await unix_pair(loop)
        receiver.pause_reading()
        sender.set_write_buffer_limits(high=20_000, low=0)
        assert sender.get_write_buffer_size() == 0
        datagram = b"d" * 1000
        sent = 0
        while not protocol.paused and sent < 10_000:
            sender.sendto(datagram)
            sent += 1
        assert protocol.paused == 1, "the kernel never pushed back"
        assert sender.get_write_buffer_size() > 20_000
        assert sender.get_write_buffer_size() % 1000 == 0  # whole datagrams are queued
        receiver.resume_reading()
        # Every datagram arrives, in order, none split or lost.
        for _ in range(sent):
            data, _ = await receiver_proto.received.get()
            assert data == datagram
        assert protocol.resumed == 1
        assert sender.get_write_buffer_size() == 0
        await close_all(sender, receiver)

    run(main())


def test_close_flushes_queued_datagrams(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        sender, protocol, receiver, receiver_proto = await unix_pair(loop)
        receiver.pause_reading()
        for _ in range(10_000):
            sender.sendto(b"q" * 1000)
            if sender.get_write_buffer_size():
                break
        assert sender.get_write_buffer_size()
        sender.close()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not protocol.lost.done(), "closed before the queue was flushed"
        receiver.resume_reading()
        assert await protocol.lost is None
        assert sender.get_write_buffer_size() == 0
        await close_all(receiver)

    run(main())


def test_broadcast_flag(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        transport, _ = await endpoint(loop, local_addr=("127.0.0.1", 0), remote_addr=("127.0.0.1", 9), allow_broadcast=True)
        raw = transport.get_extra_info("socket")
        assert raw.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        # With allow_broadcast the socket is not connected; remote_addr is
        # still the default destination.
        assert transport.get_extra_info("peername") is None
        await close_all(transport)

    run(main())


def test_reuse_port(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT")

    async def main() -> None:
        first, _ = await endpoint(loop, local_addr=("127.0.0.1", 0), reuse_port=True)
        second, _ = await endpoint(loop, local_addr=first.get_extra_info("sockname"), reuse_port=True)
        assert second.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        await close_all(first, second)

    run(main())


def test_family_only_and_adopted_socket(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        unbound, _ = await endpoint(loop, family=socket.AF_INET)
        assert unbound.get_extra_info("socket").family == socket.AF_INET
        raw = socket.socket(type=socket.SOCK_DGRAM)
        raw.bind(("127.0.0.1", 0))
        adopted, adopted_proto = await endpoint(loop, sock=raw)
        unbound.sendto(b"to adopted", raw.getsockname())
        assert (await adopted_proto.received.get())[0] == b"to adopted"
        await close_all(unbound, adopted)

    run(main())


def test_argument_errors(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="unexpected address family"):
            await endpoint(loop)
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await endpoint(loop, local_addr="127.0.0.1")
        with socket.socket(type=socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match=r"can not be used when sock is specified. \(family=2, reuse_port=True\)"):
                await endpoint(loop, sock=sock, family=socket.AF_INET, reuse_port=True)
        with socket.socket() as stream:
            with pytest.raises(ValueError, match="A UDP Socket was expected"):
                await endpoint(loop, sock=stream)
        with pytest.raises(TypeError, match="string is expected"):
            await endpoint(loop, family=socket.AF_UNIX, local_addr=("a", 1))

    run(main())


def test_unix_datagram(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as directory:
            server_path = os.path.join(directory, "server")
            client_path = os.path.join(directory, "client")
            server, server_proto = await endpoint(loop, family=socket.AF_UNIX, local_addr=server_path)
            client, client_proto = await endpoint(
                loop, family=socket.AF_UNIX, local_addr=client_path, remote_addr=server_path
            )
            client.sendto(b"local")
            assert await server_proto.received.get() == (b"local", client_path)
            server.sendto(b"back", client_path)
            assert (await client_proto.received.get())[0] == b"back"
            await close_all(client, server)
            # A stale socket file is replaced, as for stream servers.
            again, _ = await endpoint(loop, family=socket.AF_UNIX, local_addr=server_path)
            await close_all(again)

    run(main())


def test_sendfile_refuses_datagram_transports(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        transport, _ = await endpoint(loop, family=socket.AF_INET)
        with tempfile.TemporaryFile() as file:
            with pytest.raises(RuntimeError, match="sendfile is not supported"):
                await _transports.sendfile(loop, transport, file)
        await close_all(transport)

    run(main())


def test_exported_names() -> None:
    assert _datagram.__all__ == ["DatagramTransport", "create_datagram_endpoint"]
    for name in _datagram.__all__:
        assert getattr(_datagram, name).__doc__


def test_largest_udp_datagram_arrives_whole(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    # UDP endpoints read 64 KiB per datagram (not max_size): still enough
    # for the largest payload IPv4 can carry.
    async def main() -> None:
        server, server_proto = await endpoint(loop, local_addr=("127.0.0.1", 0))
        client, _ = await endpoint(loop, remote_addr=server.get_extra_info("sockname"))
        client.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
        server.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        largest = os.urandom(65_507)
        client.sendto(largest)
        data, _ = await server_proto.received.get()
        assert data == largest
        await close_all(client, server)

    run(main())
