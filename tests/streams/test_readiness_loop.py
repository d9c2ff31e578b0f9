"""tidal.streams on a loop that offers readiness callbacks and nothing else of the socket API.

``ReadinessOnlyLoop`` is asyncio's selector loop with every ``sock_*``
method and ``connect_accepted_socket`` raising ``NotImplementedError``, the
way loops still growing their asyncio API do.  The socket-stream and
listener suite is imported below and runs on it, so connecting, accepting,
receiving and sending are all shown to need only ``add_reader`` and
``add_writer``; the loop is checked like the others (silent exception
handler, no leaked descriptors).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest

from tests.loop_harness import open_fds, runner
from tidal.streams import ConnectError, open_tcp_stream, open_unix_stream, wrap_socket
from tidal.streams._readiness import ReadinessStream, _loops_without_sock_connect

# Imported so that pytest collects them here, on this module's loop fixture.
from .test_socket import (  # noqa: F401
    test_connect_refused_is_a_clear_connect_error,
    test_dual_stack_listener_shares_one_port,
    test_extra_info_and_repr,
    test_listener_accept_interrupted_by_close,
    test_open_tcp_stream_with_local_address_and_name,
    test_peer_reset_mid_transfer_is_stream_broken,
    test_serve_unix_removes_its_socket_file,
    test_server_aclose_cancels_handlers_after_grace,
    test_server_owns_handlers_and_closes_gracefully,
    test_tcp_streams_conform,
    test_unix_streams_conform,
)


class ReadinessOnlyLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop without its socket operations and socket transports."""

    calls: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    def _refuse(self, name: str) -> NoReturn:
        self.calls.append(name)
        raise NotImplementedError(name)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        self._refuse("sock_connect")

    async def sock_accept(self, sock: socket.socket) -> Any:
        self._refuse("sock_accept")

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        self._refuse("sock_recv")

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        self._refuse("sock_recv_into")

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        self._refuse("sock_sendall")

    async def connect_accepted_socket(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse("connect_accepted_socket")


@pytest.fixture
def loop() -> Iterator[ReadinessOnlyLoop]:
    """A readiness-only loop; fails on exception-handler calls or leaked fds."""
    fds_before = open_fds()
    errors: list[Any] = []
    event_loop = ReadinessOnlyLoop()
    event_loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield event_loop
    finally:
        event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        event_loop.close()
    assert not errors, f"unexpected exception-handler calls: {errors!r}"
    leaked = open_fds() - fds_before
    assert not leaked, f"file descriptors leaked by the test: {sorted(leaked)}"


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=30)`` on the readiness-only loop."""
    return runner(loop, 30.0)


def test_each_missing_operation_is_tried_once_per_loop(run: Any, loop: ReadinessOnlyLoop) -> None:
    async def echo_once(port: int) -> bytes:
        stream = await open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"hello")
            return await stream.receive_some()

    async def scenario() -> None:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        listening.setblocking(False)
        port = listening.getsockname()[1]
        try:
            for _ in range(3):
                reply = asyncio.ensure_future(echo_once(port))
                while True:
                    try:
                        accepted, _ = listening.accept()
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0)
                server = await wrap_socket(accepted)
                assert isinstance(server, ReadinessStream)
                async with server:
                    await server.send_all(await server.receive_some())
                assert await reply == b"hello"
        finally:
            listening.close()

    run(scenario())
    assert sorted(loop.calls) == ["connect_accepted_socket", "sock_connect"]
    assert loop in _loops_without_sock_connect


def test_refused_unix_and_tcp_connects_are_connect_errors(run: Any, tmp_path: Any) -> None:
    async def scenario() -> None:
        with pytest.raises(ConnectError) as caught:
            await open_unix_stream(str(tmp_path / "nobody-listens"))
        assert isinstance(caught.value.errors[0], FileNotFoundError)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))  # bound, not listening
            with pytest.raises(ConnectError) as refused:
                await open_tcp_stream("127.0.0.1", sock.getsockname()[1])
        assert isinstance(refused.value.errors[0], ConnectionRefusedError)

    run(scenario())
