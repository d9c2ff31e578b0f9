"""The default timeouts (seconds to tens of seconds) checked in milliseconds with the virtual clock."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from tidal.http import Request, Response, ServerTimeouts
from tidal.testing import VirtualClock

from tests.loop_harness import open_fds
from .helpers import RawClient, parse_status, running

DEFAULTS = ServerTimeouts()


async def read_body(request: Request) -> Response:
    return Response(b"read %d" % len(await request.read()))


@pytest.fixture(params=["tidal", "asyncio"])
def clocked(request: pytest.FixtureRequest) -> Iterator[tuple[VirtualClock, asyncio.AbstractEventLoop]]:
    """A virtual clock and a loop it drives; fails on leaked fds or exception-handler calls."""
    gc.collect()
    fds_before = open_fds()
    clock = VirtualClock()
    loop = clock.new_event_loop(request.param)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield clock, loop
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        gc.collect()
    assert not errors, errors
    assert not open_fds() - fds_before


def run_clocked(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> float:
    """Run ``coro``; return the wall-clock seconds it took."""
    started = time.monotonic()
    loop.run_until_complete(asyncio.wait_for(coro, 300))  # virtual seconds
    return time.monotonic() - started


def test_default_header_read_timeout_cuts_a_dripping_client(clocked: tuple[VirtualClock, asyncio.AbstractEventLoop]) -> None:
    clock, loop = clocked

    async def drip(client: RawClient) -> None:
        try:
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100:
                await client.send(bytes([byte]))
                await asyncio.sleep(0.5)  # well inside any idle timeout
        except OSError:
            pass

    async def main() -> None:
        async with running(read_body) as server:
            client = await RawClient.connect(server)
            started = clock.time()
            dripping = asyncio.ensure_future(drip(client))
            reply = await client.read_until_closed()
            elapsed = clock.time() - started
            dripping.cancel()
            await asyncio.wait({dripping})
            assert parse_status(reply) == 408
            assert DEFAULTS.header_read <= elapsed < DEFAULTS.header_read + 1.5
            await client.close()

    assert run_clocked(loop, main()) < 10


def test_default_keep_alive_and_body_timeouts(clocked: tuple[VirtualClock, asyncio.AbstractEventLoop]) -> None:
    clock, loop = clocked

    async def main() -> None:
        async with running(read_body) as server:
            client = await RawClient.connect(server)
            assert (await client.request("POST", "/", body=b"abc")).body == b"read 3"
            idle_since = clock.time()
            assert await client.read_until_closed() == b""
            assert DEFAULTS.keep_alive <= clock.time() - idle_since < DEFAULTS.keep_alive + 0.5
            await client.close()

            client = await RawClient.connect(server)
            await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            stalled_since = clock.time()
            reply = await client.read_until_closed()
            assert parse_status(reply) == 408
            assert DEFAULTS.body_read <= clock.time() - stalled_since < DEFAULTS.body_read + 1.5
            await client.close()

    assert run_clocked(loop, main()) < 10
