"""Stream transports (TCP and Unix) on tidal's loop and on asyncio's.

Every test builds connections with tidal's module functions, so on the
"asyncio" loop it checks that the transports need nothing but the public
loop API.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from tidal.loop import _connect, _transports

Run = Callable[..., Any]


class Recorder(asyncio.Protocol):
    """Records every callback; futures fire on connection_made/lost and EOF."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, keep_open_on_eof: bool = False) -> None:
        self.loop = loop
        self.events: list[str] = []
        self.data = bytearray()
        self.transport: Any = None
        self.made: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[Exception | None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()
        self.received: asyncio.Event = asyncio.Event()
        self.keep_open_on_eof = keep_open_on_eof

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.events.append("data")
        self.data += data
        self.received.set()

    def eof_received(self) -> bool:
        self.events.append("eof")
        self.eof.set_result(None)
        return self.keep_open_on_eof

    def pause_writing(self) -> None:
        self.events.append("pause_writing")

    def resume_writing(self) -> None:
        self.events.append("resume_writing")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)

    async def wait_for_bytes(self, count: int) -> bytes:
        while len(self.data) < count:
            self.received.clear()
            await self.received.wait()
        return bytes(self.data)


async def tcp_pair(
    loop: asyncio.AbstractEventLoop, server_factory: Callable[[], asyncio.BaseProtocol] | None = None
) -> tuple[Any, Recorder, Any, Any]:
    """(server, client protocol, client transport, server-side protocol) over loopback."""
    accepted: asyncio.Future[Any] = loop.create_future()

    def make_server_protocol() -> asyncio.BaseProtocol:
        protocol = server_factory() if server_factory else Recorder(loop)
        accepted.set_result(protocol)
        return protocol

    server = await _connect.create_server(loop, make_server_protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await _connect.create_connection(loop, lambda: Recorder(loop), "127.0.0.1", port)
    server_protocol = await accepted
    if isinstance(server_protocol, Recorder):
        await server_protocol.made
    assert isinstance(client, Recorder)
    return server, client, transport, server_protocol


async def shut(server: Any, *transports: Any) -> None:
    for transport in transports:
        transport.close()
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_round_trip_and_callback_order(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        transport.write(b"ping")
        assert await peer.wait_for_bytes(4) == b"ping"
        peer.transport.write(b"pong")
        assert await client.wait_for_bytes(4) == b"pong"
        transport.close()
        assert await client.lost is None
        await peer.lost
        assert client.events == ["made", "data", "lost"]
        assert peer.events == ["made", "data", "eof", "lost"]
        await shut(server)

    run(main())


def test_extra_info(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        sock = transport.get_extra_info("socket")
        assert sock.family == socket.AF_INET
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert transport.get_extra_info("sockname") == sock.getsockname()
        assert transport.get_extra_info("peername") == server.sockets[0].getsockname()
        assert peer.transport.get_extra_info("peername") == transport.get_extra_info("sockname")
        assert transport.get_extra_info("nonexistent", "default") == "default"
        assert transport.get_protocol() is client
        await shut(server, transport, peer.transport)

    run(main())


def test_write_accepts_bytes_like_and_rejects_others(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        transport.write(bytearray(b"a"))
        transport.write(memoryview(b"bc"))
        transport.writelines([b"d", bytearray(b"e"), memoryview(b"f")])
        transport.write(b"")
        with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
            transport.write("text")
        assert await peer.wait_for_bytes(6) == b"abcdef"
        await shut(server, transport, peer.transport)

    run(main())


def test_write_eof_half_close(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop, lambda: Recorder(loop, keep_open_on_eof=True))
        assert transport.can_write_eof()
        transport.write(b"request")
        transport.write_eof()
        transport.write_eof()  # a second call is a no-op
        with pytest.raises(RuntimeError, match="after write_eof"):
            transport.write(b"more")
        await peer.eof
        assert peer.data == b"request"
        # The server kept its side open and can still answer.
        peer.transport.write(b"response")
        assert await client.wait_for_bytes(8) == b"response"
        peer.transport.close()
        await client.eof
        assert await client.lost is None
        await shut(server)

    run(main())


def test_close_flushes_buffered_data(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        peer.transport.pause_reading()
        payload = os.urandom(4 * 1024 * 1024)  # more than the socket buffers hold
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.close()
        assert transport.is_closing()
        assert not client.lost.done()
        peer.transport.resume_reading()
        assert await peer.wait_for_bytes(len(payload)) == payload
        assert await client.lost is None
        await shut(server, peer.transport)

    run(main())


def test_abort_discards_buffer(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        peer.transport.pause_reading()
        transport.write(os.urandom(4 * 1024 * 1024))
        transport.abort()
        assert transport.get_write_buffer_size() == 0
        assert await client.lost is None
        assert client.events.count("lost") == 1
        transport.close()  # after abort: nothing happens
        transport.abort()
        await asyncio.sleep(0)
        assert client.events.count("lost") == 1
        await shut(server, peer.transport)

    run(main())


def test_write_buffer_limits_drive_pause_and_resume(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        assert transport.get_write_buffer_limits() == (16384, 65536)
        with pytest.raises(ValueError, match="high .* must be >= low"):
            transport.set_write_buffer_limits(high=1, low=2)
        transport.set_write_buffer_limits(high=1024)
        assert transport.get_write_buffer_limits() == (256, 1024)
        transport.set_write_buffer_limits(low=100)
        assert transport.get_write_buffer_limits() == (100, 400)
        peer.transport.pause_reading()
        chunk = b"x" * 65536
        for _ in range(10_000):  # bounded: socket buffers are a few MiB at most
            transport.write(chunk)
            if "pause_writing" in client.events:
                break
        assert "pause_writing" in client.events
        assert transport.get_write_buffer_size() > 400
        peer.transport.resume_reading()
        while "resume_writing" not in client.events:
            await peer.wait_for_bytes(len(peer.data) + 1)
        assert transport.get_write_buffer_size() <= 100
        await shut(server, transport, peer.transport)

    run(main())


def test_pause_reading_stops_delivery(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        assert peer.transport.is_reading()
        peer.transport.pause_reading()
        peer.transport.pause_reading()  # idempotent
        assert not peer.transport.is_reading()
        transport.write(b"held back")
        # Give the loop several full iterations to (wrongly) deliver it.
        for _ in range(10):
            await asyncio.sleep(0)
        assert peer.data == b""
        peer.transport.resume_reading()
        assert peer.transport.is_reading()
        assert await peer.wait_for_bytes(9) == b"held back"
        transport.close()
        await peer.lost
        assert not peer.transport.is_reading()  # closed transports do not read
        await shut(server)

    run(main())


class Buffered(asyncio.BufferedProtocol):
    """A BufferedProtocol that hands out a small buffer to force many reads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = 7) -> None:
        self.buffer = bytearray(size)
        self.data = bytearray()
        self.done: asyncio.Future[None] = loop.create_future()
        self.sizes: list[int] = []

    def get_buffer(self, sizehint: int) -> bytearray:
        self.sizes.append(sizehint)
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self.buffer[:nbytes]

    def eof_received(self) -> None:
        self.done.set_result(None)


def test_buffered_protocol(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        buffered: Buffered | None = None

        def factory() -> Buffered:
            nonlocal buffered
            buffered = Buffered(loop)
            return buffered

        server, client, transport, _ = await tcp_pair(loop, factory)
        payload = bytes(range(256)) * 40
        transport.write(payload)
        transport.write_eof()
        assert buffered is not None
        await buffered.done
        assert buffered.data == payload
        assert set(buffered.sizes) == {-1}
        await shut(server, transport)
        await client.lost

    run(main())


def test_switching_to_a_buffered_protocol_mid_stream(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        transport.write(b"first")
        await peer.wait_for_bytes(5)
        buffered = Buffered(loop, size=3)
        peer.transport.set_protocol(buffered)
        assert peer.transport.get_protocol() is buffered
        transport.write(b"second")
        transport.write_eof()
        await buffered.done
        assert buffered.data == b"second"
        await shut(server, transport, peer.transport)

    run(main())


def test_empty_buffer_from_get_buffer_is_fatal(
    loop: asyncio.AbstractEventLoop, run: Run, loop_errors: list[dict[str, Any]]
) -> None:
    async def main() -> None:
        server, client, transport, _ = await tcp_pair(loop, lambda: Buffered(loop, size=0))
        transport.write(b"x")
        # The server side gave up and closed with "x" unread: EOF or a reset.
        assert (await client.lost) is None or isinstance(client.lost.result(), ConnectionResetError)
        await shut(server, transport)

    run(main())
    assert [error["message"] for error in loop_errors] == ["Fatal error: protocol.get_buffer() call failed."]
    assert "empty buffer" in str(loop_errors[0]["exception"])
    loop_errors.clear()


def test_exception_in_data_received_reaches_the_handler(
    loop: asyncio.AbstractEventLoop, run: Run, loop_errors: list[dict[str, Any]]
) -> None:
    class Exploding(Recorder):
        def data_received(self, data: bytes) -> None:
            raise ZeroDivisionError("boom")

    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop, lambda: Exploding(loop))
        transport.write(b"x")
        error = await peer.lost
        assert isinstance(error, ZeroDivisionError)
        await client.lost
        await shut(server, transport)

    run(main())
    assert loop_errors[0]["message"] == "Fatal error: protocol.data_received() call failed."
    assert loop_errors[0]["protocol"] is not None
    loop_errors.clear()


def test_failing_pause_writing_is_reported_not_fatal(
    loop: asyncio.AbstractEventLoop, run: Run, loop_errors: list[dict[str, Any]]
) -> None:
    class BadPause(Recorder):
        def pause_writing(self) -> None:
            raise RuntimeError("cannot pause")

    async def main() -> None:
        server, _, transport, peer = await tcp_pair(loop)
        # Swap in a protocol whose pause_writing fails.
        bad = BadPause(loop)
        transport.set_protocol(bad)
        transport.set_write_buffer_limits(high=0)
        peer.transport.pause_reading()
        transport.write(b"x" * (8 * 1024 * 1024))
        assert not transport.is_closing()
        await shut(server, transport, peer.transport)

    run(main())
    assert loop_errors and loop_errors[0]["message"] == "protocol.pause_writing() failed"
    loop_errors.clear()


def test_peer_reset_reports_oserror_to_connection_lost(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        raw = peer.transport.get_extra_info("socket")
        # SO_LINGER 0 turns the close into a RST.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.transport.abort()
        await peer.lost
        error = await client.lost
        if error is not None:  # a RST seen on read; EOF first is also legal
            assert isinstance(error, ConnectionResetError)
        # Writing to a dead connection is silently counted, not raised.
        for _ in range(3):
            transport.write(b"late")
        await shut(server, transport)

    run(main())


def test_close_before_connection_made_runs_callbacks_in_order(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        left, right = socket.socketpair()
        right.close()
        left.setblocking(False)
        protocol = Recorder(loop)
        transport = _transports.StreamTransport(loop, left, protocol)
        transport.close()  # before the loop ran connection_made
        assert await protocol.lost is None
        assert protocol.events == ["made", "lost"]
        assert left.fileno() == -1

    run(main())


def test_unclosed_transport_warns(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    left, right = socket.socketpair()
    left.setblocking(False)
    transport = _transports.StreamTransport(loop, left, asyncio.Protocol())
    run(asyncio.sleep(0))
    transport.pause_reading()  # drop the loop's reference to a bound method
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del transport
        import gc

        gc.collect()
    assert left.fileno() == -1
    right.close()


def test_unix_transport(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "sock")
            peer_ready: asyncio.Future[Recorder] = loop.create_future()

            def factory() -> Recorder:
                protocol = Recorder(loop)
                peer_ready.set_result(protocol)
                return protocol

            server = await _connect.create_unix_server(loop, factory, path)
            transport, client = await _connect.create_unix_connection(loop, lambda: Recorder(loop), path)
            peer = await peer_ready
            assert transport.get_extra_info("peername") == path
            transport.write(b"over unix")
            assert await peer.wait_for_bytes(9) == b"over unix"
            transport.write_eof()
            await peer.eof
            await shut(server, transport)

    run(main())


def test_sendfile_native_with_offset_and_count(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    data = os.urandom(300_000)

    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        with tempfile.TemporaryFile() as file:
            file.write(data)
            file.seek(0)
            transport.write(b"head")
            sent = await _transports.sendfile(loop, transport, file, offset=1000, count=200_000)
            assert sent == 200_000
            assert file.tell() == 201_000
            transport.write(b"tail")
            expected = b"head" + data[1000:201_000] + b"tail"
            assert await peer.wait_for_bytes(len(expected)) == expected
        await shut(server, transport, peer.transport)

    run(main())


def test_sendfile_falls_back_for_non_regular_files(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    import io

    data = os.urandom(100_000)

    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        file = io.BytesIO(data)
        sent = await _transports.sendfile(loop, transport, file, offset=10)
        assert sent == len(data) - 10
        assert file.tell() == len(data)
        assert await peer.wait_for_bytes(len(data) - 10) == data[10:]
        assert transport.get_protocol() is client  # the fallback restored it
        assert transport.is_reading()
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await _transports.sendfile(loop, transport, io.BytesIO(b"x"), fallback=False)
        await shut(server, transport, peer.transport)

    run(main())


def test_sendfile_argument_checks(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server, client, transport, peer = await tcp_pair(loop)
        with tempfile.TemporaryFile() as file:
            with pytest.raises(ValueError, match="count must be a positive integer"):
                await _transports.sendfile(loop, transport, file, count=0)
            with pytest.raises(ValueError, match="offset must be a non-negative integer"):
                await _transports.sendfile(loop, transport, file, offset=-1)
            with pytest.raises(TypeError, match="offset must be a non-negative integer"):
                await _transports.sendfile(loop, transport, file, offset=1.5)  # type: ignore[arg-type]
        with tempfile.TemporaryFile("w+") as text_file:
            with pytest.raises(ValueError, match="binary mode"):
                await _transports.sendfile(loop, transport, text_file)
        transport.close()
        with pytest.raises(RuntimeError, match="Transport is closing"):
            await _transports.sendfile(loop, transport, None)
        await shut(server, peer.transport)

    run(main())


def test_exported_names() -> None:
    assert _transports.__all__ == ["SocketTransportBase", "StreamTransport", "sendfile"]
    for name in _transports.__all__:
        assert getattr(_transports, name).__doc__


def test_lost_connection_frees_transport_without_the_garbage_collector() -> None:
    # A transport whose connection is lost must not sit in a reference cycle
    # (its bound reader callback): it and its protocol go away as soon as the
    # last user reference does, not at the next garbage collection.
    import gc
    import weakref

    import tidal.loop

    async def main() -> asyncio.BaseTransport:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transport.close()
        for _ in range(3):
            await asyncio.sleep(0)
        server.close()
        await server.wait_closed()
        return transport

    loop = tidal.loop.new_event_loop()
    gc.disable()
    try:
        transport = loop.run_until_complete(main())
        reference = weakref.ref(transport)
        del transport
        assert reference() is None
    finally:
        gc.enable()
        loop.close()


class ChunkRecorder(asyncio.Protocol):
    """Records the size of every chunk the transport delivers."""

    def __init__(self) -> None:
        self.chunks: list[int] = []
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.chunks.append(len(data))
        self.data += data


def _fill(sock: socket.socket) -> bytes:
    """Send until the kernel buffers no more; return what was sent."""
    sent = bytearray()
    block = os.urandom(8192)
    while True:
        try:
            count = sock.send(block)
        except BlockingIOError:
            return bytes(sent)
        sent += block[:count]


def test_read_size_grows_for_bulk_data_and_drops_back_for_small_messages(
    loop: asyncio.AbstractEventLoop, run: Run
) -> None:
    # Small reads keep recv() allocations below glibc's mmap threshold (no
    # mmap/munmap per message); full reads grow the size up to max_size.
    small = _transports.SMALL_READ_SIZE
    left, right = socket.socketpair()
    right.setblocking(False)

    async def received(protocol: ChunkRecorder, count: int) -> None:
        while len(protocol.data) < count:
            await asyncio.sleep(0)

    async def main() -> None:
        burst = _fill(right)  # buffered before the transport reads anything
        assert len(burst) > 2 * small, len(burst)
        transport, protocol = await _connect.connect_accepted_socket(loop, ChunkRecorder, left)
        assert isinstance(protocol, ChunkRecorder)
        await received(protocol, len(burst))
        assert protocol.chunks[0] == small
        assert protocol.chunks[1] == min(len(burst) - small, 4 * small)
        assert max(protocol.chunks) <= _transports.StreamTransport.max_size
        right.send(b"tiny")
        await received(protocol, len(burst) + 4)
        assert protocol.chunks[-1] == 4
        second = _fill(right)
        before = len(protocol.chunks)
        await received(protocol, len(burst) + 4 + len(second))
        assert protocol.chunks[before] == small  # back to small reads after a small one
        assert bytes(protocol.data) == burst + b"tiny" + second
        transport.close()
        await asyncio.sleep(0)

    try:
        run(main())
    finally:
        right.close()
