"""``Server`` and ``create_server``/``create_unix_server`` on both loops."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import ssl
import tempfile
from collections.abc import Callable
from typing import Any

import pytest

from tidal.loop import _connect, _server

Run = Callable[..., Any]


class Echo(asyncio.Protocol):
    """Echoes every byte; records its lifetime in ``registry``."""

    def __init__(self, registry: list[Echo]) -> None:
        registry.append(self)
        self.transport: Any = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def echo_once(port: int, host: str = "127.0.0.1", family: int = socket.AF_INET) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, family=family)
    writer.write(b"hello")
    data = await reader.readexactly(5)
    writer.close()
    await writer.wait_closed()
    return data


def test_serves_and_closes(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        registry: list[Echo] = []
        server = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", 0)
        assert isinstance(server, asyncio.AbstractServer)
        assert server.is_serving()
        assert server.get_loop() is loop
        assert len(server.sockets) == 1
        port = server.sockets[0].getsockname()[1]
        assert await echo_once(port) == b"hello"
        await registry[0].lost
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        await server.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            await echo_once(port)

    run(main())


def test_listens_on_ipv4_and_ipv6(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")

    async def main() -> None:
        registry: list[Echo] = []
        try:
            server = await _connect.create_server(loop, lambda: Echo(registry), ["127.0.0.1", "::1"], 0)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                pytest.skip("::1 is not configured")
            raise
        families = sorted(sock.family for sock in server.sockets)
        assert families == [socket.AF_INET, socket.AF_INET6]
        for sock in server.sockets:
            host, port = sock.getsockname()[:2]
            assert await echo_once(port, host, sock.family) == b"hello"
        async with server:
            pass
        assert not server.is_serving()

    run(main())


def test_start_serving_false_then_serve_forever_cancelled(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        registry: list[Echo] = []
        server = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        port = server.sockets[0].getsockname()[1]
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        with pytest.raises(RuntimeError, match="already being awaited"):
            await server.serve_forever()
        assert await echo_once(port) == b"hello"
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        assert not server.is_serving()
        assert server.sockets == ()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()

    run(main())


def test_wait_closed_waits_for_open_connections(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        registry: list[Echo] = []
        server = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x")
        await reader.readexactly(1)
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)  # wait_closed() starts waiting before close()
        server.close()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done(), "wait_closed returned while a connection was open"
        # Python 3.11: wait_closed() called after close() returns at once.
        await server.wait_closed()
        # The accepted connection still works after close().
        writer.write(b"y")
        assert await reader.readexactly(1) == b"y"
        writer.close()
        await writer.wait_closed()
        await waiting
        await registry[0].lost

    run(main())


def test_reuse_port_lets_two_servers_share_a_port(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT")

    async def main() -> None:
        registry: list[Echo] = []
        first = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", 0, reuse_port=True)
        port = first.sockets[0].getsockname()[1]
        second = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", port, reuse_port=True)
        assert second.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        with pytest.raises(OSError, match="error while attempting to bind on address"):
            await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", port)
        for server in (first, second):
            server.close()
            await server.wait_closed()

    run(main())


def test_reuse_address_defaults_on(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        server = await _connect.create_server(loop, asyncio.Protocol, "127.0.0.1", 0)
        assert server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        server.close()
        off = await _connect.create_server(loop, asyncio.Protocol, "127.0.0.1", 0, reuse_address=False)
        assert not off.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        off.close()

    run(main())


def test_server_on_an_existing_socket_with_backlog(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        registry: list[Echo] = []
        server = await _connect.create_server(loop, lambda: Echo(registry), sock=listener, backlog=5)
        assert await echo_once(listener.getsockname()[1]) == b"hello"
        async with server:
            pass
        assert listener.fileno() == -1

    run(main())


def test_argument_errors(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="Neither host/port nor sock"):
            await _connect.create_server(loop, asyncio.Protocol)
        with socket.socket() as sock:
            with pytest.raises(ValueError, match="host/port and sock can not be specified"):
                await _connect.create_server(loop, asyncio.Protocol, "127.0.0.1", 0, sock=sock)
        with socket.socket(type=socket.SOCK_DGRAM) as sock:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await _connect.create_server(loop, asyncio.Protocol, sock=sock)
        with pytest.raises(TypeError, match="ssl argument must be an SSLContext"):
            await _connect.create_server(loop, asyncio.Protocol, "127.0.0.1", 0, ssl=True)
        with pytest.raises(ValueError, match="ssl_shutdown_timeout should be a positive number"):
            await _connect.create_server(
                loop, asyncio.Protocol, "127.0.0.1", 0, ssl=ssl.create_default_context(), ssl_shutdown_timeout=-1
            )
        with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful with ssl"):
            await _connect.create_server(loop, asyncio.Protocol, "127.0.0.1", 0, ssl_handshake_timeout=1)

    run(main())


def test_failing_protocol_factory_is_reported_and_the_socket_closed(
    loop: asyncio.AbstractEventLoop, run: Run, loop_errors: list[dict[str, Any]]
) -> None:
    def factory() -> asyncio.Protocol:
        raise ValueError("no protocol for you")

    async def main() -> None:
        server = await _connect.create_server(loop, factory, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        assert await reader.read() == b""  # the server closed the accepted socket
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main())
    assert [error["message"] for error in loop_errors] == ["Error on transport creation for incoming connection"]
    loop_errors.clear()


def test_many_simultaneous_connections(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        registry: list[Echo] = []
        server = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        results = await asyncio.gather(*(echo_once(port) for _ in range(50)))
        assert results == [b"hello"] * 50
        await asyncio.gather(*(protocol.lost for protocol in registry))
        server.close()
        await server.wait_closed()

    run(main())


def test_unix_server_replaces_a_stale_socket_file(loop: asyncio.AbstractEventLoop, run: Run) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "server.sock")
            stale = socket.socket(socket.AF_UNIX)
            stale.bind(path)
            stale.close()  # leaves the file behind, as a crashed server would
            registry: list[Echo] = []
            server = await _connect.create_unix_server(loop, lambda: Echo(registry), path)
            assert server.sockets[0].getsockname() == path
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(b"ok")
            assert await reader.readexactly(2) == b"ok"
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            with pytest.raises(ValueError, match="path and sock can not be specified"):
                await _connect.create_unix_server(loop, asyncio.Protocol, path, sock=stale)
            with socket.socket() as tcp:
                with pytest.raises(ValueError, match="A UNIX Domain Stream Socket was expected"):
                    await _connect.create_unix_server(loop, asyncio.Protocol, sock=tcp)

    run(main())


class FailsOnce:
    """A listening socket stand-in whose first accept() runs out of descriptors."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.failed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> tuple[socket.socket, Any]:
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return self.sock.accept()


def test_accept_pauses_when_out_of_descriptors(
    loop: asyncio.AbstractEventLoop, run: Run, loop_errors: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_server, "ACCEPT_RETRY_DELAY", 0.01)

    async def main() -> None:
        registry: list[Echo] = []
        server = await _connect.create_server(loop, lambda: Echo(registry), "127.0.0.1", 0)
        listener = server._sockets[0]  # type: ignore[index]
        flaky = FailsOnce(listener)
        # Route readiness through the stand-in, as if accept() hit EMFILE.
        loop.remove_reader(listener.fileno())
        loop.add_reader(listener.fileno(), server._accept_ready, flaky)
        reply = asyncio.ensure_future(echo_once(listener.getsockname()[1]))
        assert await reply == b"hello"  # accepted after the pause
        assert flaky.failed
        server.close()
        await server.wait_closed()

    run(main())
    assert [error["message"] for error in loop_errors] == ["socket.accept() out of system resource"]
    assert loop_errors[0]["exception"].errno == errno.EMFILE
    loop_errors.clear()


def test_exported_names() -> None:
    assert _server.__all__ == ["Server", "ServerTLS"]
    assert _server.Server.__doc__
