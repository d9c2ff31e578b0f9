"""Native handlers learn that the client went away (issue #7), on tidal's loop and asyncio's.

Real clients on loopback (raw TCP, TLS, curl killed mid-response) close their
connection while a handler works or while its response streams; the handler sees it through
``Request.wait_disconnected()`` / ``Request.is_disconnected()``.  Watching
must not steal body bytes nor break pipelined requests.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.peers import require_binary
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


def _ticking_handler(finished: asyncio.Event, produced: list[int]) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                for index in range(3):
                    produced.append(index)
                    yield b"tick %d\n" % index
                await request.wait_disconnected()  # then nothing more to say until the client leaves
                produced.append(-1)
            finally:
                finished.set()

        return Response(ticks(), content_type="text/plain")

    return handler


def test_curl_killed_mid_response(run: Run) -> None:
    curl = require_binary("curl")
    produced: list[int] = []
    finished = asyncio.Event()

    async def main() -> None:
        async with running(_ticking_handler(finished, produced)) as server:
            proc = await asyncio.create_subprocess_exec(
                curl, "-sN", f"http://127.0.0.1:{server.port}/", stdout=asyncio.subprocess.PIPE
            )
            assert proc.stdout is not None
            lines = [await proc.stdout.readline() for _ in range(3)]
            assert lines == [b"tick 0\n", b"tick 1\n", b"tick 2\n"]
            proc.kill()  # the client vanishes with the response still open
            await proc.wait()
            await finished.wait()

    run(main())
    assert produced == [0, 1, 2, -1]


def test_tls_client_closing_is_seen(run: Run) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    produced: list[int] = []
    finished = asyncio.Event()

    async def main() -> None:
        async with running(_ticking_handler(finished, produced), ssl=server_context) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client_context)
            writer.write(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while b"tick 2\n" not in received:
                chunk = await reader.read(65536)
                assert chunk, "the server closed before the third tick"
                received += chunk
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
            await finished.wait()

    run(main())
    assert produced == [0, 1, 2, -1]


def test_after_the_response_nothing_reads_the_connection(run: Run) -> None:
    """A task left waiting, or asking after the response, cannot start reading the next request's bytes."""
    kept: list[Request] = []
    leftover: list[asyncio.Task[None]] = []

    async def handler(request: Request) -> Response:
        kept.append(request)
        if request.path == "/first":
            leftover.append(asyncio.ensure_future(request.wait_disconnected()))
            await asyncio.sleep(0)
        return Response(request.path.encode())

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            assert (await client.request("GET", "/first")).body == b"/first"
            [waiting] = leftover
            with pytest.raises(RuntimeError, match="no longer watched"):
                await waiting
            first = kept[0]
            assert not await first.is_disconnected()
            with pytest.raises(RuntimeError, match="the response is over"):
                await first.wait_disconnected()
            assert (await client.request("GET", "/second")).body == b"/second"
            second = kept[1]
            assert not await second.is_disconnected()  # never watched: its response is over
            assert second._watch is None
            await client.close()

    run(main())
