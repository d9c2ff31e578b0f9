"""Native handlers learn that the client went away (issue #7), on tidal's loop and asyncio's.

Real TCP clients on loopback close their connection while a handler works
or while its response streams; the handler sees it through
``Request.wait_disconnected()`` / ``Request.is_disconnected()``.  Watching
must not steal body bytes nor break pipelined requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from tidal.http import Request, Response
from tidal.http._server._request import WATCH_INPUT_LIMIT

from .helpers import RawClient, running

Run = Callable[..., Any]


def test_slow_handler_sees_the_client_close(run: Run) -> None:
    seen: list[str] = []
    started = asyncio.Event()
    noticed = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/slow":
            assert not await request.is_disconnected()
            started.set()
            await request.wait_disconnected()  # the "slow work" only ends when the client leaves
            seen.append("gone")
            assert await request.is_disconnected()
            noticed.set()
            return Response(b"nobody reads this")
        return Response(b"still serving")

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
            await started.wait()
            await client.close()
            await noticed.wait()
            other = await RawClient.connect(server)
            reply = await other.request("GET", "/other")
            assert (reply.status, reply.body) == (200, b"still serving")
            await other.close()

    run(main())
    assert seen == ["gone"]


def test_streaming_response_stops_when_the_client_closes(run: Run) -> None:
    produced: list[int] = []
    finished = asyncio.Event()

    async def handler(request: Request) -> Response:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                for index in range(1000):
                    if await request.is_disconnected():
                        return
                    produced.append(index)
                    yield b"tick %d\n" % index
                    if index == 2:
                        await request.wait_disconnected()  # a producer waiting for its next event
            finally:
                finished.set()

        return Response(ticks(), content_type="text/plain")

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"GET /ticks HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while b"tick 2\n" not in received:
                chunk = await client.reader.read(65536)
                assert chunk, "the server closed before the third tick"
                received += chunk
            await client.close()
            await finished.wait()

    run(main())
    assert produced == [0, 1, 2]


def test_pipelined_requests_survive_the_watch(run: Run) -> None:
    bodies: list[bytes] = []

    async def handler(request: Request) -> Response:
        body = await request.read()
        bodies.append(body)
        assert not await request.is_disconnected()
        for _ in range(10):
            await asyncio.sleep(0)  # let the watch read the next requests
        return Response(b"answer to " + request.path.encode() + b" with " + body)

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(
                b"POST /one HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nfirst"
                b"GET /two HTTP/1.1\r\nHost: test\r\n\r\n"
                b"POST /three HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nthird"
            )
            replies = [await client.response() for _ in range(3)]
            await client.close()
        assert [reply.body for reply in replies] == [
            b"answer to /one with first",
            b"answer to /two with ",
            b"answer to /three with third",
        ]

    run(main())
    assert bodies == [b"first", b"", b"third"]


def test_watch_stops_reading_after_the_pipelined_limit(run: Run) -> None:
    buffered: list[int] = []
    padding = "x" * 4000
    # Over the limit in pipelined heads even after the first read (up to
    # 64 KiB, taken with the first head) kept some of them.
    count = (WATCH_INPUT_LIMIT + 64 * 1024) // 4000 + 8

    async def handler(request: Request) -> Response:
        if request.path == "/first":
            assert not await request.is_disconnected()
            source = request.body_source
            for _ in range(10_000):  # bounded: the client sends everything at once
                if source.buffered_input > WATCH_INPUT_LIMIT:
                    break
                await asyncio.sleep(0)
            for _ in range(20):
                await asyncio.sleep(0)  # a stopped watch reads no more
            buffered.append(source.buffered_input)
        return Response(request.path.encode())

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            later = b"".join(
                f"GET /n{index} HTTP/1.1\r\nHost: test\r\nX-Pad: {padding}\r\n\r\n".encode() for index in range(count)
            )
            await client.send(b"GET /first HTTP/1.1\r\nHost: test\r\n\r\n" + later)
            replies = [await client.response() for _ in range(count + 1)]
            await client.close()
        assert [reply.body for reply in replies] == [b"/first"] + [b"/n%d" % index for index in range(count)]

    run(main())
    [amount] = buffered
    assert WATCH_INPUT_LIMIT < amount <= WATCH_INPUT_LIMIT + 64 * 1024


def test_waiting_before_the_body_is_read_is_a_usage_error(run: Run) -> None:
    async def handler(request: Request) -> Response:
        assert not await request.is_disconnected()  # only what is known: nothing yet
        try:
            await request.wait_disconnected()
        except RuntimeError as error:
            message = str(error)
        body = await request.read()
        assert not await request.is_disconnected()  # now watching
        return Response(message.encode() + b" / " + body)

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"POST /late HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\n")
            reply_task = asyncio.ensure_future(client.response())
            for _ in range(20):
                await asyncio.sleep(0)
            await client.send(b"body")
            reply = await reply_task
            await client.close()
        assert reply.status == 200
        assert reply.body == b"wait_disconnected() needs the whole request body received first: read it / body"

    run(main())


def test_handler_that_never_asks_costs_no_watch(run: Run) -> None:
    requests: list[Request] = []

    async def handler(request: Request) -> Response:
        requests.append(request)
        return Response(b"ok")

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            for _ in range(3):
                assert (await client.request("GET", "/")).body == b"ok"
            await client.close()

    run(main())
    assert all(request._watch is None for request in requests)
