"""Pool limits and expiry end to end, timeouts on a virtual clock, and br/zstd bodies."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import tidal.http as http
from tidal.http import Client, Limits, Timeout
from tidal.testing import VirtualClock

from tests.loop_harness import open_fds

from .scripted import OK_HEAD, ScriptedServer, respond_forever, respond_once

Run = Callable[..., Any]


def run_on_virtual_clock(loop_kind: str, coro: Callable[[VirtualClock], Coroutine[Any, Any, None]]) -> float:
    """Run ``coro(clock)`` on a loop driven by a virtual clock; returns the real seconds taken."""
    import time

    gc.collect()
    fds_before = open_fds()
    clock = VirtualClock()
    loop = clock.new_event_loop(loop_kind)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    started = time.monotonic()
    try:
        loop.run_until_complete(coro(clock))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        gc.collect()
    assert not errors, errors
    assert not open_fds() - fds_before
    return time.monotonic() - started


def test_per_host_limit_queues_requests(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server:
            async with Client(limits=Limits(max_connections_per_host=2)) as client:
                results = await asyncio.gather(*(client.get(server.url()) for _ in range(10)))
                assert [response.content for response in results] == [b"ok"] * 10
                assert server.accepted == 2 and client.pool_state == {"open": 2, "idle": 2, "waiting": 0}

    run(main())


def test_idle_limit_closes_the_least_recently_used(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server:
            async with Client(limits=Limits(max_idle_connections=1)) as client:
                streams = [client.stream("GET", server.url()) for _ in range(3)]
                responses = [await stream.__aenter__() for stream in streams]
                for stream, response in zip(streams, responses):
                    await response.read()
                    await stream.__aexit__(None, None, None)
                assert server.accepted == 3 and client.pool_state == {"open": 1, "idle": 1, "waiting": 0}

    run(main())


@pytest.mark.parametrize("loop_kind", ["tidal", "asyncio"])
def test_idle_expiry_on_a_virtual_clock(loop_kind: str) -> None:
    async def main(clock: VirtualClock) -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server:
            async with Client(limits=Limits(idle_expiry=5)) as client:
                await client.get(server.url())
                await asyncio.sleep(4)
                await client.get(server.url())
                assert server.accepted == 1  # still fresh: reused
                await asyncio.sleep(6)
                await client.get(server.url())
                assert server.accepted == 2  # expired: closed at checkout, a new one opened
                assert client.pool_state == {"open": 1, "idle": 1, "waiting": 0}

    run_on_virtual_clock(loop_kind, main)


@pytest.mark.parametrize("loop_kind", ["tidal", "asyncio"])
def test_thirty_second_read_timeout_in_milliseconds(loop_kind: str) -> None:
    async def main(clock: VirtualClock) -> None:
        async with ScriptedServer(respond_once(b"", then_close=False)) as server:
            async with Client(timeout=Timeout(read=30)) as client:
                started = clock.time()
                with pytest.raises(http.ReadTimeout, match="read timeout of 30 s"):
                    await client.get(server.url())
                assert clock.time() - started == pytest.approx(30, abs=0.5)

    assert run_on_virtual_clock(loop_kind, main) < 10


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_brotli_and_zstandard_bodies(run: Run, coding: str) -> None:
    text = b"tidal " * 5000
    if coding == "br":
        brotli = pytest.importorskip("brotli")
        encoded = brotli.compress(text)
    else:
        zstandard = pytest.importorskip("zstandard")
        encoded = zstandard.ZstdCompressor().compress(text)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (coding.encode(), len(encoded))

    async def main() -> None:
        async with ScriptedServer(respond_forever(head + encoded)) as server, Client() as client:
            response = await client.get(server.url())
            assert response.content == text
            assert coding in client.headers["accept-encoding"]

    run(main())


def test_closing_the_client_fails_waiting_requests(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(OK_HEAD)) as server:
            client = Client(limits=Limits(max_connections=1))
            async with client.stream("GET", server.url()) as response:
                waiting = asyncio.ensure_future(client.get(server.url()))
                for _ in range(20):
                    await asyncio.sleep(0)
                assert client.pool_state["waiting"] == 1
                await client.aclose()
                with pytest.raises(http.ClientClosed, match="waited for a connection"):
                    await waiting
                assert await response.read() == b"ok"
            assert client.pool_state == {"open": 0, "idle": 0, "waiting": 0}

    run(main())
