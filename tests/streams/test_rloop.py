"""tidal.streams on rloop, a loop without socket transports (issue #4).

rloop implements ``add_reader``/``add_writer`` but raises
``NotImplementedError`` from ``connect_accepted_socket``, so sockets are
wrapped in readiness streams there.  The socket-stream suite's TCP, Unix and
listener tests, and TLS over TCP, are imported below and run again on an
rloop loop that is checked like the other loops (silent exception handler,
no leaked fds).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.loop_harness import open_fds, runner
from tidal.streams import open_tcp_stream, serve_tcp, wrap_socket
from tidal.streams._readiness import ReadinessStream
from tidal.streams._socket import _loops_without_transports
from tidal.testing import check_two_way_stream

# Imported so that pytest collects them here, on this module's rloop fixture.
from .test_socket import (  # noqa: F401
    test_connect_refused_is_a_clear_connect_error,
    test_dual_stack_listener_shares_one_port,
    test_extra_info_and_repr,
    test_listener_accept_interrupted_by_close,
    test_open_tcp_stream_with_local_address_and_name,
    test_peer_reset_mid_transfer_is_stream_broken,
    test_serve_unix_removes_its_socket_file,
    test_server_aclose_cancels_handlers_after_grace,
    test_server_logs_handler_errors_and_keeps_serving,
    test_server_owns_handlers_and_closes_gracefully,
    test_tcp_streams_conform,
    test_unix_streams_conform,
)
from .test_tls import (  # noqa: F401
    ca,
    client_context,
    server_context,
    test_graceful_close_with_session_tickets,
    test_open_tcp_stream_and_serve_tcp_with_tls,
    test_tls_over_tcp_conforms,
    ticketless_server_context,
)

rloop = pytest.importorskip("rloop")


@contextlib.contextmanager
def checked_rloop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh rloop loop; fails on exception-handler calls or leaked descriptors."""
    gc.collect()
    event_loop: asyncio.AbstractEventLoop = rloop.new_event_loop()
    # rloop 0.5 keeps its epoll and eventfd descriptors open after close(),
    # so the census starts after the loop exists and does not count them.
    fds_before = open_fds()
    _close_self_pipe_on_stop(event_loop)
    errors: list[Any] = []
    # rloop calls handler(context), asyncio handler(loop, context).
    event_loop.set_exception_handler(lambda *args: errors.append(args[-1]))
    try:
        yield event_loop
    finally:
        event_loop.run_until_complete(event_loop.shutdown_asyncgens())
        event_loop.close()
        gc.collect()
    assert not errors, f"unexpected exception-handler calls: {errors!r}"
    leaked = open_fds() - fds_before
    assert not leaked, f"file descriptors leaked by the test: {sorted(leaked)}"


def _close_self_pipe_on_stop(event_loop: Any) -> None:
    """rloop 0.5 drops the socket pair it opens for each run, one end still open: close that one."""
    stop = event_loop._ssock_stop

    def stop_and_close() -> None:
        pair = (event_loop._ssock_r, event_loop._ssock_w)
        stop()
        for sock in pair:
            if sock is None:
                continue
            try:
                os.fstat(sock.fileno())
            except OSError:
                sock.detach()  # rloop closed this descriptor itself
            else:
                sock.close()

    event_loop._ssock_stop = stop_and_close


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The loop under test: rloop, checked like the other loops."""
    with checked_rloop() as event_loop:
        yield event_loop


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """``run(coro, timeout=30)`` on rloop."""
    return runner(loop, 30.0)


def test_rloop_sockets_become_readiness_streams_decided_once(run: Any, loop: asyncio.AbstractEventLoop) -> None:
    asked: list[int] = []
    original = loop.connect_accepted_socket

    async def counting(*args: Any, **kwargs: Any) -> Any:
        asked.append(1)
        return await original(*args, **kwargs)

    loop.connect_accepted_socket = counting  # type: ignore[method-assign]

    async def scenario() -> None:
        for _ in range(3):
            left, right = socket.socketpair()
            streams = [await wrap_socket(left), await wrap_socket(right)]
            assert all(isinstance(stream, ReadinessStream) for stream in streams)
            await streams[0].send_all(b"ping")
            assert await streams[1].receive_some() == b"ping"
            for stream in streams:
                await stream.aclose()

    run(scenario())
    assert asked == [1], "the loop was asked for a transport more than once"
    assert loop in _loops_without_transports


def test_echo_server_with_many_clients(run: Any) -> None:
    async def echo(stream: Any) -> None:
        async for chunk in stream:
            await stream.send_all(chunk)

    async def client(port: int, index: int) -> bytes:
        stream = await open_tcp_stream("127.0.0.1", port)
        async with stream:
            message = bytes([index]) * (100_000 + index)
            await stream.send_all(message)
            await stream.send_eof()
            received = bytearray()
            while chunk := await stream.receive_some():
                received += chunk
            return bytes(received) if received == message else b"mismatch"

    async def scenario() -> None:
        async with await serve_tcp(echo, "127.0.0.1", 0) as server:
            answers = await asyncio.gather(*(client(server.port, index) for index in range(8)))
        assert [len(answer) for answer in answers] == [100_000 + index for index in range(8)]

    run(scenario())


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_readiness_streams_conform_on_other_loops(loop_kind: str) -> None:
    """The readiness implementation itself, forced on loops that have transports too."""
    from tests.loop_harness import checked_loop

    async def make_pair() -> tuple[ReadinessStream, ReadinessStream]:
        left, right = socket.socketpair()
        for sock in (left, right):
            sock.setblocking(False)
        return ReadinessStream(left), ReadinessStream(right)

    with checked_loop(loop_kind) as event_loop:
        runner(event_loop, 60.0)(check_two_way_stream(make_pair, max_cancel_points=30))


def test_http_server_and_client_over_rloop(run: Any) -> None:
    """The layers above streams need nothing more from the loop."""
    from tidal.http import Client, Request, Response, serve

    async def handler(request: Request) -> Response:
        body = await request.read()

        async def pieces() -> Any:
            for index in range(4):
                yield body[index::4]

        return Response(pieces())

    async def scenario() -> None:
        server = await serve(handler, "127.0.0.1", 0, access_log=False)
        try:
            async with Client() as client:
                payload = bytes(range(256)) * 1000
                response = await client.post(f"http://127.0.0.1:{server.port}/", content=payload)
                assert response.status == 200
                assert response.content == b"".join(payload[index::4] for index in range(4))
        finally:
            await server.aclose()

    run(scenario())
