"""Cancellation at every await point never leaks a pool slot or pools a half-read connection.

Each test runs the same exchange over and over, cancelling it after 0, 1,
2 ... loop iterations, until one run completes before the cancellation
lands.  After every cancelled run the pool must be consistent (every open
connection idle and complete, no waiter) and still serve a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import pytest

from tidal.http import Client, Limits

from .conftest import Nginx
from .scripted import ScriptedServer, respond_forever

Run = Callable[..., Any]
BODY = b"z" * 150_000
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
MAX_STEPS = 2000


async def sweep(client: Client, exchange: Callable[[], Awaitable[None]]) -> int:
    """Cancel ``exchange`` after each number of loop iterations; return how many were cancelled."""
    for steps in range(MAX_STEPS):
        task = asyncio.ensure_future(exchange())
        for _ in range(steps):
            await asyncio.sleep(0)
        if task.done():
            await task
            return steps
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        state = client.pool_state
        assert state["open"] == state["idle"] and state["waiting"] == 0, (steps, state)
        for connection in client._pool.state._idle_all:
            assert connection.engine.their_state.__name__ == "IDLE", (steps, connection)
    raise AssertionError(f"the exchange never completed within {MAX_STEPS} loop iterations")


@pytest.mark.parametrize("warm", [False, True], ids=["new-connection", "reused-connection"])
def test_cancel_a_streamed_get_at_every_point(run: Run, warm: bool) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(RESPONSE)) as server, Client() as client:
            async def exchange() -> None:
                if warm:
                    await client.get(server.url())
                async with client.stream("GET", server.url()) as response:
                    assert await response.read() == BODY

            cancelled = await sweep(client, exchange)
            assert cancelled > 5
            assert (await client.get(server.url())).content == BODY

    run(main(), timeout=60)


def test_cancel_an_upload_at_every_point(run: Run) -> None:
    async def chunks() -> Any:
        for _ in range(8):
            yield b"u" * 50_000

    async def main() -> None:
        async with ScriptedServer(respond_forever(RESPONSE)) as server, Client() as client:
            async def exchange() -> None:
                response = await client.post(server.url(), content=chunks())
                assert response.content == BODY

            assert await sweep(client, exchange) > 5

    run(main(), timeout=60)


def test_cancel_while_waiting_for_a_pool_slot(run: Run) -> None:
    async def main() -> None:
        async with ScriptedServer(respond_forever(RESPONSE)) as server:
            async with Client(limits=Limits(max_connections=1)) as client:
                async def exchange() -> None:
                    async def one() -> None:
                        assert (await client.get(server.url())).content == BODY

                    await asyncio.gather(one(), one(), one())

                assert await sweep(client, exchange) > 5

    run(main(), timeout=60)


def test_cancel_a_tls_exchange_at_every_point(run: Run, nginx: Nginx) -> None:
    async def main() -> None:
        async with Client(verify=nginx.ca_path) as client:
            async def exchange() -> None:
                response = await client.get(nginx.tls_url("/small.bin"))
                assert len(response.content) == 100

            assert await sweep(client, exchange) > 5

    run(main(), timeout=60)
