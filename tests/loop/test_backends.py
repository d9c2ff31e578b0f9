"""The Poller contract, checked on every backend this platform has.

These tests talk to tidal's loop only (asyncio's loop has no pluggable
backends), and to the pollers directly.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tidal.loop import EventLoop, available_pollers, new_event_loop
from tidal.loop._poller import READ, WAKES_READ, WAKES_WRITE, WRITE, Poller, make_poller
from tests.loop.conftest import open_fds

BACKENDS = available_pollers()


@pytest.fixture(params=BACKENDS)
def poller(request: pytest.FixtureRequest) -> Iterator[Poller]:
    backend = make_poller(request.param)
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture(params=BACKENDS)
def backend_loop(request: pytest.FixtureRequest) -> Iterator[EventLoop]:
    gc.collect()
    before = open_fds()
    errors: list[dict[str, Any]] = []
    loop = new_event_loop(poller=request.param)
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        gc.collect()
    assert not errors
    assert not open_fds() - before


def test_default_backend_is_listed_first() -> None:
    loop = new_event_loop()
    try:
        assert loop._poller.name == BACKENDS[0]
    finally:
        loop.close()


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown poller 'nope'"):
        make_poller("nope")


def test_poller_reports_readiness(poller: Poller) -> None:
    left, right = socket.socketpair()
    with left, right:
        poller.register(left.fileno(), READ)
        assert poller.poll(0) == []
        right.send(b"x")
        events = poller.poll(1)
        assert [(fd, bool(mask & WAKES_READ)) for fd, mask in events] == [(left.fileno(), True)]
        poller.modify(left.fileno(), WRITE)
        events = poller.poll(1)
        assert [(fd, bool(mask & WAKES_WRITE)) for fd, mask in events] == [(left.fileno(), True)]
        poller.unregister(left.fileno())
        assert poller.poll(0) == []


def test_poller_rejects_double_registration(poller: Poller) -> None:
    left, right = socket.socketpair()
    with left, right:
        poller.register(left.fileno(), READ)
        with pytest.raises(FileExistsError):
            poller.register(left.fileno(), READ)
        poller.unregister(left.fileno())


def test_poller_times_out(poller: Poller) -> None:
    import time

    started = time.monotonic()
    assert poller.poll(0.01) == []
    assert time.monotonic() - started >= 0.009


def test_echo_on_every_backend(backend_loop: EventLoop) -> None:
    loop = backend_loop

    async def echo(conn: socket.socket) -> None:
        buffer = bytearray(1024)
        while True:
            size = await loop.sock_recv_into(conn, buffer)
            if not size:
                return
            await loop.sock_sendall(conn, memoryview(buffer)[:size])

    async def main() -> None:
        left, right = socket.socketpair()
        left.setblocking(False)
        right.setblocking(False)
        with left, right:
            server = asyncio.ensure_future(echo(right))
            for number in range(200):
                message = b"message %d" % number
                await loop.sock_sendall(left, message)
                received = b""
                while len(received) < len(message):
                    received += await loop.sock_recv(left, 1024)
                assert received == message
            left.shutdown(socket.SHUT_WR)
            await server

    loop.run_until_complete(asyncio.wait_for(main(), 10))


def test_call_soon_threadsafe_on_every_backend(backend_loop: EventLoop) -> None:
    import threading

    loop = backend_loop

    async def main() -> int:
        future: asyncio.Future[int] = loop.create_future()
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(future.set_result, 5))
        thread.start()
        try:
            return await future
        finally:
            thread.join()

    assert loop.run_until_complete(asyncio.wait_for(main(), 10)) == 5


def test_reused_fd_number_is_rearmed(backend_loop: EventLoop) -> None:
    """A socket closed with its interest still armed, and a new one on the same fd number."""
    loop = backend_loop

    async def receive_once(sock: socket.socket, peer: socket.socket) -> bytes:
        receiving = asyncio.ensure_future(loop.sock_recv(sock, 10))
        await asyncio.sleep(0)
        peer.send(b"data")
        return await receiving

    async def main() -> None:
        first, first_peer = socket.socketpair()
        first.setblocking(False)
        assert await receive_once(first, first_peer) == b"data"
        fd = first.fileno()
        first.close()  # closed right after completing: its record is still armed
        first_peer.close()
        for _ in range(20):
            second, second_peer = socket.socketpair()
            if second.fileno() == fd:
                break
            second.close()
            second_peer.close()
        else:
            pytest.skip("the kernel did not reuse the fd number")
        with second, second_peer:
            second.setblocking(False)
            assert await receive_once(second, second_peer) == b"data"

    loop.run_until_complete(asyncio.wait_for(main(), 10))


def test_idle_interest_is_dropped(backend_loop: EventLoop) -> None:
    """After the last operation completes and nobody re-submits, the fd leaves the poller.

    With epoll and kqueue (which forget a closed fd by themselves) the read
    interest stays armed until the fd reports readable with nothing queued;
    with poll and select it goes before the loop next blocks.
    """
    loop = backend_loop

    async def main() -> None:
        left, right = socket.socketpair()
        left.setblocking(False)
        with left, right:
            receiving = asyncio.ensure_future(loop.sock_recv(left, 10))
            await asyncio.sleep(0)
            assert left.fileno() in loop._io
            right.send(b"x")
            assert await receiving == b"x"
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if loop._poller.forgets_closed_fds:
                assert left.fileno() in loop._io  # a receive loop would ask again right away
                right.send(b"y")  # readable, and nobody waits: now it goes
                for _ in range(3):
                    await asyncio.sleep(0)
            assert left.fileno() not in loop._io

    loop.run_until_complete(asyncio.wait_for(main(), 10))


def test_remove_reader_unregisters_immediately(backend_loop: EventLoop) -> None:
    left, right = socket.socketpair()
    with left, right:
        backend_loop.add_reader(left.fileno(), print)
        assert left.fileno() in backend_loop._io
        assert backend_loop.remove_reader(left.fileno())
        assert left.fileno() not in backend_loop._io


def test_unclosed_loop_warns() -> None:
    loop = new_event_loop()
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        del loop
        gc.collect()
