"""StreamServer closing before its accept tasks ran leaves no listening socket open (issue #4).

The loop fixture fails any test here that leaks a descriptor; each test also
checks that the port refuses connections once ``close()`` returned.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from typing import Any

import pytest

from tidal.streams import ByteStream, open_tcp_listeners, serve_listeners, serve_tcp, serve_unix


async def _unused_handler(stream: ByteStream) -> None:
    raise AssertionError("no connection was expected")


def _refuses(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_close_right_after_serve_tcp_closes_the_listeners(run: Any) -> None:
    async def scenario() -> None:
        server = await serve_tcp(_unused_handler, "127.0.0.1", 0)
        port = server.port
        server.close()  # the accept tasks have not run a single step yet
        assert all(sock.fileno() == -1 for sock in server.sockets)
        assert _refuses(port)
        await server.wait_closed()

    run(scenario())


def test_close_without_wait_closed_leaves_nothing_open(run: Any) -> None:
    async def scenario() -> None:
        listeners = await open_tcp_listeners(0, host="127.0.0.1")
        server = await serve_listeners(_unused_handler, listeners)
        server.close()
        assert listeners[0].socket.fileno() == -1
        for _ in range(5):
            await asyncio.sleep(0)  # the cancelled accept tasks finish on their own

    run(scenario())


def test_aclose_right_after_start(run: Any) -> None:
    async def scenario() -> None:
        async with await serve_tcp(_unused_handler, "127.0.0.1", 0) as server:
            port = server.port
        assert all(sock.fileno() == -1 for sock in server.sockets)
        assert _refuses(port)

    run(scenario())


def test_serve_unix_closed_at_once_removes_its_socket_file(run: Any) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "s")
            server = await serve_unix(_unused_handler, path)
            server.close()
            assert not os.path.exists(path)
            await server.wait_closed()

    run(scenario())


@pytest.mark.parametrize("steps", [0, 1, 2, 5])
def test_close_after_some_loop_steps(run: Any, steps: int) -> None:
    """Whether or not an accept task is already waiting, close + wait_closed closes every listener."""

    async def scenario() -> None:
        server = await serve_tcp(_unused_handler, "127.0.0.1", 0)
        port = server.port
        for _ in range(steps):
            await asyncio.sleep(0)
        server.close()
        await server.wait_closed()
        assert all(sock.fileno() == -1 for sock in server.sockets)
        assert _refuses(port)

    run(scenario())
