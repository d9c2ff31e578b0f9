"""``create_connection`` and friends on both loops: resolution, errors, Happy Eyeballs."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tidal.loop import _connect

Run = Callable[..., Any]
STREAM = socket.SOCK_STREAM


class Collect(asyncio.Protocol):
    """Collects received bytes; ``lost`` fires on connection_lost."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A plain listening socket on 127.0.0.1 (accepted by the kernel, never read)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def stalling_port() -> Iterator[int]:
    """A loopback port whose connects hang: its accept queue is already full.

    Linux drops the SYN of a connection that cannot be queued, so a connect
    stays in progress (the client retransmits) until cancelled.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    filler = socket.create_connection(sock.getsockname())  # occupies the one slot
    yield sock.getsockname()[1]
    filler.close()
    sock.close()


def addrinfo(port: int, host: str = "127.0.0.1") -> tuple[Any, ...]:
    return (socket.AF_INET, STREAM, socket.IPPROTO_TCP, "", (host, port))


def fake_resolver(loop: asyncio.AbstractEventLoop, infos: list[Any], calls: list[Any]) -> None:
    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> list[Any]:
        calls.append((host, port, kwargs))
        return infos

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]


def test_connects_by_numeric_address_without_the_resolver(
    loop: asyncio.AbstractEventLoop, run: Run, listener: socket.socket
) -> None:
    calls: list[Any] = []
    fake_resolver(loop, [], calls)
    port = listener.getsockname()[1]

    async def main() -> None:
        transport, protocol = await _connect.create_connection(loop, Collect, "127.0.0.1", str(port))
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.close()
        await protocol.lost  # type: ignore[attr-defined]

    run(main())
    assert calls == []


def test_names_go_through_loop_getaddrinfo(loop: asyncio.AbstractEventLoop, run: Run, listener: socket.socket) -> None:
    calls: list[Any] = []
    port = listener.getsockname()[1]
    fake_resolver(loop, [addrinfo(port)], calls)

    async def main() -> None:
        transport, _ = await _connect.create_connection(loop, Collect, "service.example", port)
        transport.close()
        await asyncio.sleep(0)

    run(main())
    assert calls == [("service.example", port, {"family": 0, "type": STREAM, "proto": 0, "flags": 0})]


def test_empty_resolution_is_an_error(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    fake_resolver(loop, [], [])
    with pytest.raises(OSError, match="getaddrinfo\\(\\) returned empty list"):
        run(_connect.create_connection(loop, Collect, "nowhere.example", 1))


def test_one_failed_address_raises_its_own_error(loop: asyncio.AbstractEventLoop, run: Run, refusing_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        run(_connect.create_connection(loop, Collect, "127.0.0.1", refusing_port))


def test_identical_errors_raise_the_first(loop: asyncio.AbstractEventLoop, run: Run, refusing_port: int) -> None:
    fake_resolver(loop, [addrinfo(refusing_port)] * 2, [])
    with pytest.raises(ConnectionRefusedError):
        run(_connect.create_connection(loop, Collect, "twice.example", refusing_port))


def test_different_errors_are_combined(loop: asyncio.AbstractEventLoop, run: Run, refusing_port: int) -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    fake_resolver(loop, [addrinfo(refusing_port), addrinfo(other.getsockname()[1])], [])
    try:
        with pytest.raises(OSError, match="^Multiple exceptions: .*Connect call failed.*, .*Connect call failed") as info:
            run(_connect.create_connection(loop, Collect, "two.example", 1))
        assert type(info.value) is OSError
    finally:
        other.close()


def test_local_addr(loop: asyncio.AbstractEventLoop, run: Run, listener: socket.socket) -> None:
    async def main() -> None:
        transport, _ = await _connect.create_connection(
            loop, Collect, *listener.getsockname(), local_addr=("127.0.0.1", 0)
        )
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        transport.close()
        await asyncio.sleep(0)
        if socket.has_ipv6:
            with pytest.raises(OSError, match="no matching local address"):
                await _connect.create_connection(loop, Collect, *listener.getsockname(), local_addr=("::1", 0))

    run(main())


def test_happy_eyeballs_moves_past_a_stalled_address(
    loop: asyncio.AbstractEventLoop, run: Run, listener: socket.socket, stalling_port: int
) -> None:
    port = listener.getsockname()[1]
    fake_resolver(loop, [addrinfo(stalling_port), addrinfo(port)], [])

    async def main() -> None:
        started = loop.time()
        transport, _ = await _connect.create_connection(loop, Collect, "dual.example", 0, happy_eyeballs_delay=0.05)
        assert transport.get_extra_info("peername")[1] == port
        assert loop.time() - started < 5  # did not wait for the stalled attempt's timeout
        transport.close()
        await asyncio.sleep(0)

    run(main())  # the fixture fails the test if the stalled attempt's socket leaked


def test_happy_eyeballs_starts_the_next_attempt_at_once_on_failure(
    loop: asyncio.AbstractEventLoop, run: Run, listener: socket.socket, refusing_port: int
) -> None:
    port = listener.getsockname()[1]
    fake_resolver(loop, [addrinfo(refusing_port), addrinfo(port)], [])

    async def main() -> None:
        # A delay far longer than the test's timeout: only the failure can advance.
        transport, _ = await _connect.create_connection(loop, Collect, "dual.example", 0, happy_eyeballs_delay=3600)
        assert transport.get_extra_info("peername")[1] == port
        transport.close()
        await asyncio.sleep(0)

    run(main(), timeout=10)


def test_happy_eyeballs_all_failing(loop: asyncio.AbstractEventLoop, run: Run, refusing_port: int) -> None:
    fake_resolver(loop, [addrinfo(refusing_port)] * 3, [])
    with pytest.raises(ConnectionRefusedError):
        run(_connect.create_connection(loop, Collect, "x.example", 0, happy_eyeballs_delay=0.01))


def test_cancelling_a_staggered_connect_closes_every_attempt(
    loop: asyncio.AbstractEventLoop, run: Run, stalling_port: int
) -> None:
    fake_resolver(loop, [addrinfo(stalling_port)] * 3, [])

    started: list[socket.socket] = []
    all_started = asyncio.Event()
    real_sock_connect = loop.sock_connect

    async def counting_sock_connect(sock: socket.socket, address: Any) -> None:
        started.append(sock)
        if len(started) == 3:
            all_started.set()
        await real_sock_connect(sock, address)

    loop.sock_connect = counting_sock_connect  # type: ignore[method-assign]

    async def main() -> None:
        attempt = asyncio.ensure_future(
            _connect.create_connection(loop, Collect, "stall.example", 0, happy_eyeballs_delay=0.01)
        )
        await all_started.wait()
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert [sock.fileno() for sock in started] == [-1, -1, -1]

    run(main())


def test_interleave_addrinfos() -> None:
    v4 = [(socket.AF_INET, STREAM, 6, "", (f"10.0.0.{i}", 80)) for i in range(3)]
    v6 = [(socket.AF_INET6, STREAM, 6, "", (f"::{i}", 80, 0, 0)) for i in range(2)]
    infos = [v6[0], v6[1], v4[0], v4[1], v4[2]]
    assert _connect.interleave_addrinfos(infos) == [v6[0], v4[0], v6[1], v4[1], v4[2]]
    assert _connect.interleave_addrinfos(infos, 2) == [v6[0], v6[1], v4[0], v4[1], v4[2]]


def test_numeric_addrinfo() -> None:
    tcp = socket.IPPROTO_TCP
    assert _connect.numeric_addrinfo("127.0.0.1", 80, 0, STREAM, 0) == (socket.AF_INET, STREAM, tcp, "", ("127.0.0.1", 80))
    assert _connect.numeric_addrinfo("::1", "443", 0, STREAM, 0) == (socket.AF_INET6, STREAM, tcp, "", ("::1", 443, 0, 0))
    assert _connect.numeric_addrinfo(b"10.1.2.3", None, 0, socket.SOCK_DGRAM, 0)[4] == ("10.1.2.3", 0)  # type: ignore[index]
    assert _connect.numeric_addrinfo("localhost", 80, 0, STREAM, 0) is None
    assert _connect.numeric_addrinfo("127.0.0.1", "http", 0, STREAM, 0) is None
    assert _connect.numeric_addrinfo("fe80::1%lo", 80, 0, STREAM, 0) is None
    assert _connect.numeric_addrinfo("::1", 80, socket.AF_INET, STREAM, 0) is None


def test_adopting_a_connected_socket(loop: asyncio.AbstractEventLoop, run: Run, listener: socket.socket) -> None:
    async def main() -> None:
        sock = socket.create_connection(listener.getsockname())
        transport, _ = await _connect.create_connection(loop, Collect, sock=sock)
        assert transport.get_extra_info("socket").fileno() == sock.fileno()
        transport.close()
        await asyncio.sleep(0)

    run(main())


def test_argument_errors(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="host and port was not specified and no sock specified"):
            await _connect.create_connection(loop, Collect)
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="host/port and sock can not be specified"):
                await _connect.create_connection(loop, Collect, "127.0.0.1", 1, sock=sock)
        with socket.socket(type=socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await _connect.create_connection(loop, Collect, sock=sock)
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await _connect.create_connection(loop, Collect, "127.0.0.1", 1, server_hostname="x")
        with pytest.raises(ValueError, match="ssl_shutdown_timeout is only meaningful with ssl"):
            await _connect.create_connection(loop, Collect, "127.0.0.1", 1, ssl_shutdown_timeout=1)
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="You must set server_hostname when using ssl without a host"):
                await _connect.create_connection(loop, Collect, sock=sock, ssl=True)
        with pytest.raises(ValueError, match="ssl_handshake_timeout should be a positive number"):
            await _connect.create_connection(loop, Collect, "127.0.0.1", 1, ssl=True, ssl_handshake_timeout=0)

    run(main())


def test_unix_connection_and_errors(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "s")
            with pytest.raises(FileNotFoundError):
                await _connect.create_unix_connection(loop, Collect, path)
            with socket.socket(socket.AF_UNIX) as server_sock:
                server_sock.bind(path)
                server_sock.listen(1)
                transport, _ = await _connect.create_unix_connection(loop, Collect, path)
                assert transport.get_extra_info("peername") == path
                transport.close()
                await asyncio.sleep(0)
            with pytest.raises(ValueError, match="no path and sock were specified"):
                await _connect.create_unix_connection(loop, Collect)
            with socket.socket() as tcp:
                with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                    await _connect.create_unix_connection(loop, Collect, sock=tcp)
                with pytest.raises(ValueError, match="path and sock can not be specified"):
                    await _connect.create_unix_connection(loop, Collect, path, sock=tcp)

    run(main())


def test_connect_accepted_socket(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        ours, theirs = socket.socketpair()
        transport, protocol = await _connect.connect_accepted_socket(loop, Collect, ours)
        theirs.sendall(b"from outside")
        theirs.shutdown(socket.SHUT_WR)
        assert await protocol.lost is None  # type: ignore[attr-defined]
        assert protocol.data == b"from outside"  # type: ignore[attr-defined]
        assert transport.is_closing()
        theirs.close()
        with socket.socket(type=socket.SOCK_DGRAM) as datagram:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await _connect.connect_accepted_socket(loop, Collect, datagram)

    run(main())


def test_exported_names() -> None:
    assert _connect.__all__ == [
        "connect_accepted_socket",
        "create_connection",
        "create_server",
        "create_unix_connection",
        "create_unix_server",
        "ensure_resolved",
        "start_stream_transport",
    ]
    for name in _connect.__all__:
        assert getattr(_connect, name).__doc__
