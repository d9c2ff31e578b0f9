"""Socket streams: the conformance suite on TCP and Unix, both implementations, three loops."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import sys
import tempfile
from typing import Any

import pytest

from tidal.streams import (
    ConnectError,
    SocketStream,
    StreamBroken,
    StreamClosed,
    open_tcp_stream,
    open_unix_stream,
    serve_tcp,
    serve_unix,
    wrap_socket,
)
from tidal.streams._connect import happy_eyeballs_connect, interleave_families
from tidal.testing import check_two_way_stream

from .helpers import socketpair_maker, tcp_pair, unix_pair


def test_tcp_streams_conform(run: Any) -> None:
    run(check_two_way_stream(tcp_pair))


def test_unix_streams_conform(run: Any) -> None:
    run(check_two_way_stream(unix_pair))


@pytest.mark.parametrize("completion_ops", [True, False], ids=["ops", "transport"])
def test_both_implementations_conform_on_every_loop(run: Any, completion_ops: bool) -> None:
    run(check_two_way_stream(socketpair_maker(completion_ops), max_cancel_points=30))


def test_extra_info_and_repr(run: Any) -> None:
    async def scenario() -> None:
        client, server = await tcp_pair()
        async with client, server:
            assert client.get_extra_info("peername") == server.get_extra_info("sockname")
            assert isinstance(client.get_extra_info("socket"), socket.socket)
            assert client.get_extra_info("nonsense", 7) == 7
            assert "127.0.0.1" in repr(client)

    run(scenario())


def _reset_on_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_peer_reset_mid_transfer_is_stream_broken(run: Any) -> None:
    async def scenario() -> None:
        client, server = await tcp_pair()
        async with client, server:
            await server.send_all(b"partial")
            assert await client.receive_some() == b"partial"
            _reset_on_close(server.socket)
            await server.aclose()
            with pytest.raises(StreamBroken) as caught:
                for _ in range(100):
                    await client.receive_some()
            assert isinstance(caught.value.__cause__, ConnectionResetError)
            with pytest.raises(StreamBroken):
                for _ in range(100):
                    await client.send_all(b"x" * 65536)

    run(scenario())


def test_connect_refused_is_a_clear_connect_error(run: Any) -> None:
    async def scenario() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]  # bound, not listening: refused
            with pytest.raises(ConnectError, match="all connection attempts failed") as caught:
                await open_tcp_stream("127.0.0.1", port)
            assert isinstance(caught.value.errors[0], ConnectionRefusedError)

    run(scenario())


def test_open_tcp_stream_with_local_address_and_name(run: Any) -> None:
    async def scenario() -> None:
        async def echo(stream: Any) -> None:
            async for chunk in stream:
                await stream.send_all(chunk)

        server = await serve_tcp(echo, "127.0.0.1", 0)
        async with server:
            stream = await open_tcp_stream("localhost", server.port, local_address="127.0.0.1")
            async with stream:
                await stream.send_all(b"ping")
                assert await stream.receive_some() == b"ping"
                assert stream.get_extra_info("sockname")[0] == "127.0.0.1"

    run(scenario())


def test_open_timeout(run: Any) -> None:
    async def never_answers(host: str, port: int) -> list[Any]:
        await asyncio.sleep(3600)
        return []

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await open_tcp_stream("example.invalid", 80, timeout=0.01, resolver=never_answers)

    run(scenario())


def test_interleave_families_alternates_starting_with_the_first() -> None:
    v6 = [(socket.AF_INET6, ("::%d" % i, 1, 0, 0)) for i in range(1, 4)]
    v4 = [(socket.AF_INET, ("10.0.0.%d" % i, 1)) for i in range(1, 3)]
    assert interleave_families(v6 + v4 + v6[:1]) == [v6[0], v4[0], v6[1], v4[1], v6[2]]
    assert interleave_families([]) == []


def test_happy_eyeballs_falls_back_and_cancels_losers(run: Any) -> None:
    async def scenario() -> None:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        refused = socket.socket()
        refused.bind(("127.0.0.1", 0))
        good = (socket.AF_INET, listening.getsockname())
        bad = (socket.AF_INET, refused.getsockname())
        try:
            sock = await happy_eyeballs_connect([bad, good], delay=10.0)
            sock.close()
            sock = await happy_eyeballs_connect([good, bad], delay=0.0)
            sock.close()
            # A blackholed first address (TEST-NET-1) loses to the second after the delay.
            sock = await happy_eyeballs_connect([(socket.AF_INET, ("192.0.2.1", 9)), good], delay=0.01)
            assert sock.getpeername() == listening.getsockname()
            sock.close()
        finally:
            listening.close()
            refused.close()
        await asyncio.sleep(0)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not others, f"connection attempts outlived the call: {others}"

    run(scenario())


def test_server_owns_handlers_and_closes_gracefully(run: Any) -> None:
    async def scenario() -> None:
        started = asyncio.Event()
        release = asyncio.Event()
        finished: list[str] = []

        async def handler(stream: Any) -> None:
            started.set()
            await release.wait()
            await stream.send_all(b"bye")
            finished.append("done")

        server = await serve_tcp(handler, "127.0.0.1", 0)
        client = await open_tcp_stream("127.0.0.1", server.port)
        async with client:
            await started.wait()
            assert server.active_connections == 1
            server.close()
            with pytest.raises(OSError):
                await open_tcp_stream("127.0.0.1", server.port)
            release.set()
            await server.wait_closed()
            assert finished == ["done"]
            assert await client.receive_some() == b"bye"
            assert await client.receive_some() == b""  # the server closed the stream
        assert server.active_connections == 0

    run(scenario())


def test_server_aclose_cancels_handlers_after_grace(run: Any) -> None:
    async def scenario() -> None:
        cancelled = asyncio.Event()

        async def handler(stream: Any) -> None:
            try:
                await stream.receive_some()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        server = await serve_tcp(handler, "127.0.0.1", 0)
        client = await open_tcp_stream("127.0.0.1", server.port)
        async with client:
            while server.active_connections == 0:
                await asyncio.sleep(0)
            await server.aclose(grace_period=0.01)
            assert cancelled.is_set()
            assert await client.receive_some() == b""

    run(scenario())


def test_server_logs_handler_errors_and_keeps_serving(run: Any, caplog: Any) -> None:
    async def handler(stream: Any) -> None:
        data = await stream.receive_some()
        if data == b"boom":
            raise RuntimeError("handler exploded")
        await stream.send_all(data)

    async def scenario() -> None:
        async with await serve_tcp(handler, "127.0.0.1", 0) as server:
            for message in (b"boom", b"fine"):
                stream = await open_tcp_stream("127.0.0.1", server.port)
                async with stream:
                    await stream.send_all(message)
                    reply = await stream.receive_some()
                    assert reply == (b"" if message == b"boom" else b"fine")

    run(scenario())
    assert "handler exploded" in caplog.text


def test_serve_unix_removes_its_socket_file(run: Any) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "echo.sock")

            async def handler(stream: Any) -> None:
                await stream.send_all(await stream.receive_some())

            async with await serve_unix(handler, path):
                stream = await open_unix_stream(path)
                async with stream:
                    await stream.send_all(b"unix")
                    assert await stream.receive_some() == b"unix"
            assert not os.path.exists(path)
            with pytest.raises(ConnectError):
                await open_unix_stream(path)

    run(scenario())


def test_dual_stack_listener_shares_one_port(run: Any) -> None:
    async def scenario() -> None:
        async def handler(stream: Any) -> None:
            await stream.send_all(b"hi")

        async with await serve_tcp(handler, None, 0) as server:
            ports = {address[1] for address in server.addresses}
            assert len(ports) == 1
            for host in ("127.0.0.1", "::1") if socket.has_ipv6 else ("127.0.0.1",):
                stream = await open_tcp_stream(host, server.port)
                async with stream:
                    assert await stream.receive_some() == b"hi"

    run(scenario())


def test_listener_accept_interrupted_by_close(run: Any) -> None:
    async def scenario() -> None:
        from tidal.streams import open_tcp_listeners

        [listener] = await open_tcp_listeners(0, host="127.0.0.1")
        pending = asyncio.ensure_future(listener.accept())
        await asyncio.sleep(0)
        await listener.aclose()
        with pytest.raises(StreamClosed):
            await pending

    run(scenario())


def test_socket_stream_is_exported_type(run: Any) -> None:
    async def scenario() -> None:
        client, server = await tcp_pair()
        async with client, server:
            assert isinstance(client, SocketStream) and isinstance(server, SocketStream)

    run(scenario())


class _CountingSocket(socket.socket):
    """Counts recv_into() syscalls (socket.socket has no room for instance attributes)."""

    receives = 0

    def recv_into(self, *args: Any) -> int:
        type(self).receives += 1
        return super().recv_into(*args)


async def _echo_twenty_messages(stream: SocketStream, peer_stream: SocketStream) -> None:
    """``stream`` echoes 20 short messages that ``peer_stream`` sends one at a time, then EOF; closes both."""
    buffer = bytearray(1024)
    try:

        async def echo() -> None:
            while count := await stream.receive_into(buffer):
                await stream.send_all(memoryview(buffer)[:count])

        server = asyncio.ensure_future(echo())
        for index in range(20):
            message = b"message %d" % index
            await peer_stream.send_all(message)
            assert await peer_stream.receive_some(1024) == message
        await peer_stream.send_eof()
        await server
    finally:
        await stream.aclose()
        await peer_stream.aclose()


def test_receive_loop_makes_one_syscall_per_message_on_tidal(run: Any, loop_kind: str) -> None:
    # On tidal's loop a receive after a short read waits for readiness
    # without first trying a recv_into() bound to fail (the interpreter would
    # build a BlockingIOError for it): an echo-style loop makes exactly one
    # recv_into() per message.  Elsewhere only the bytes are checked.  (A
    # socket subclass keeps its own recv_into(): the C call is for plain sockets.)
    async def main() -> None:
        plain, peer = socket.socketpair()
        counting = _CountingSocket(fileno=plain.detach())
        _CountingSocket.receives = 0
        await _echo_twenty_messages(await wrap_socket(counting), await wrap_socket(peer))
        if loop_kind == "tidal":
            # The first message is already queued when the echo task first
            # receives (send_all returned without suspending), so: 20 messages, EOF.
            assert _CountingSocket.receives == 20 + 1

    run(main())


def test_bytes_arriving_after_a_short_read_are_received(run: Any) -> None:
    # After a short read the next receive waits for readiness without trying
    # recv_into() first; bytes that arrived in between must still come back
    # at once (readiness is level-triggered), on both implementations.
    async def main() -> None:
        left, right = socket.socketpair()
        stream = await wrap_socket(left)
        peer = await wrap_socket(right)
        try:
            buffer = bytearray(64)
            await peer.send_all(b"first")
            assert await stream.receive_into(buffer) == 5  # short: the hint is set
            await peer.send_all(b"second")
            await peer.send_all(b"third")
            got = bytearray()
            while len(got) < len(b"secondthird"):
                count = await stream.receive_into(buffer)
                assert count
                got += buffer[:count]
            assert got == b"secondthird"
        finally:
            await stream.aclose()
            await peer.aclose()

    run(main())


def test_receive_into_a_memoryview_of_wider_items(run: Any) -> None:
    # len() of such a view counts items, not bytes: the byte count returned
    # and the bytes written must still be right.
    async def main() -> None:
        left, right = socket.socketpair()
        stream = await wrap_socket(left)
        peer = await wrap_socket(right)
        try:
            storage = bytearray(16)
            view = memoryview(storage).cast("I")  # 4 items of 4 bytes
            await peer.send_all(b"0123456789")
            assert await stream.receive_into(view) == 10
            assert bytes(storage[:10]) == b"0123456789"
            await peer.send_all(b"abcdefghijklmnop")
            got = bytearray()
            while len(got) < 16:
                count = await stream.receive_into(view)
                assert count
                got += storage[:count]
            assert got == b"abcdefghijklmnop"
        finally:
            await stream.aclose()
            await peer.aclose()

    run(main())


# -- the C send and receive (_speedups.c) -------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX only")
def test_c_receive_and_send_behave_as_the_socket_methods() -> None:
    from tidal.streams import _speedups

    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        right.setblocking(False)
        assert _speedups.send_now(left.fileno(), memoryview(b"xhello")[1:]) == 5
        buffer = bytearray(8)
        assert _speedups.recv_into_now(right.fileno(), memoryview(buffer)[2:]) == 5
        assert buffer == b"\x00\x00hello\x00"
        with pytest.raises(BlockingIOError):
            _speedups.recv_into_now(right.fileno(), buffer)
        with pytest.raises(TypeError):
            _speedups.recv_into_now(right.fileno(), b"read-only")
        with pytest.raises(TypeError):
            _speedups.send_now(left.fileno())  # type: ignore[call-arg]
        right.close()
        with pytest.raises(BrokenPipeError):
            for _ in range(4):  # the first send after the peer closed may still be taken
                _speedups.send_now(left.fileno(), b"x" * 65536)
        left.close()
        with pytest.raises(OSError) as failure:  # fileno() is -1 once closed: never a reused descriptor
            _speedups.recv_into_now(left.fileno(), buffer)
        assert failure.value.errno == errno.EBADF
    finally:
        left.close()
        right.close()


def test_socket_streams_work_without_the_c_calls(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tidal.streams import _socket as socket_module

    monkeypatch.setattr(socket_module, "_recv_into_now", None)  # read when a stream is made
    monkeypatch.setattr(socket_module, "_send_now", None)

    async def main() -> bytes:
        left, right = socket.socketpair()
        first, second = await wrap_socket(left), await wrap_socket(right)
        try:
            # More than the kernel takes at once: the rest waits for the reader below.
            sending = asyncio.ensure_future(first.send_all(b"a" * 300_000))
            received = bytearray()
            while len(received) < 300_000:
                received += await second.receive_some(65536)
            await sending
            await second.send_all(b"back")
            return bytes(received[-3:]) + await first.receive_some(10)
        finally:
            await first.aclose()
            await second.aclose()

    assert run(main()) == b"aaaback"


def test_plain_sockets_take_the_c_calls_once_per_message_on_tidal(
    run: Any, loop_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tidal.streams import _socket as socket_module

    real_receive = socket_module._recv_into_now
    if real_receive is None:
        pytest.skip("tidal.streams._speedups is not built here (TIDAL_NO_SPEEDUPS, or no compiler)")
    calls: list[int] = []

    def counted(fd: int, buffer: Any) -> int:
        calls.append(fd)
        return real_receive(fd, buffer)

    monkeypatch.setattr(socket_module, "_recv_into_now", counted)  # streams made from now on use it

    async def main() -> int:
        plain, peer = socket.socketpair()
        fd = plain.fileno()
        await _echo_twenty_messages(await wrap_socket(plain, completion_ops=True), await wrap_socket(peer))
        return calls.count(fd)

    receives = run(main())
    if loop_kind == "tidal":  # elsewhere the forced completion ops wait generically: only the bytes are checked
        assert receives == 20 + 1
