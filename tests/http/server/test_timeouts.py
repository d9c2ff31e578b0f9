"""Timeouts and connection limits with real sockets and fraction-of-a-second deadlines."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tidal.http import Request, RequestTimeout, Response, ServerLimits, ServerTimeouts

from .helpers import RawClient, parse_status, running, short_timeouts


async def hello(request: Request) -> Response:
    return Response(b"hello")


def test_slowloris_is_cut_off_while_bytes_still_drip(run: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"d" * 500
    sent = 0

    async def drip(client: RawClient) -> None:
        nonlocal sent
        try:
            for index in range(len(head)):  # one byte every 10 ms: never idle for long
                await client.send(head[index : index + 1])
                sent += 1
                await asyncio.sleep(0.01)
        except OSError:
            pass  # the server closed the connection

    async def main() -> None:
        async with running(hello, timeouts=short_timeouts(header_read=0.3, keep_alive=5.0)) as server:
            client = await RawClient.connect(server)
            started = loop.time()
            dripping = asyncio.ensure_future(drip(client))
            reply = await client.read_until_closed()
            elapsed = loop.time() - started
            dripping.cancel()
            await asyncio.wait({dripping})
            assert parse_status(reply) == 408
            assert 0.25 < elapsed < 3.0 and sent < len(head)
            await client.close()

    run(main())


def test_idle_keep_alive_connection_is_closed_quietly(run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with running(hello, timeouts=short_timeouts(keep_alive=0.2)) as server:
            client = await RawClient.connect(server)
            assert (await client.request("GET", "/")).body == b"hello"
            assert await client.read_until_closed() == b""  # no 408 for an idle connection
            await client.close()
            silent = await RawClient.connect(server)  # a new connection that never speaks
            assert await silent.read_until_closed() == b""
            await silent.close()

    run(main())


def test_body_read_timeout_answers_408(run: Callable[..., Any]) -> None:
    raised: list[BaseException] = []

    async def handler(request: Request) -> Response:
        try:
            await request.read()
        except RequestTimeout as exc:
            raised.append(exc)
            raise
        return Response(b"unreachable")

    async def main() -> None:
        async with running(handler, timeouts=short_timeouts(body_read=0.2)) as server:
            client = await RawClient.connect(server)
            await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            reply = await client.read_until_closed()
            assert parse_status(reply) == 408 and b"connection: close" in reply.lower()
            await client.close()
        assert raised and raised[0].status == 408  # type: ignore[attr-defined]

    run(main())


def test_client_that_stops_reading_is_dropped_after_the_write_timeout(run: Callable[..., Any]) -> None:
    finished = asyncio.Event()
    produced = 0

    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            nonlocal produced
            try:
                for _ in range(10_000):
                    produced += 1
                    yield b"y" * 65536
            finally:
                finished.set()

        return Response(body())

    async def main() -> None:
        async with running(handler, timeouts=short_timeouts(write=0.3)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.read(100)
            writer.transport.pause_reading()
            await finished.wait()  # the server gave up on the stalled client
            assert produced < 1000  # it never buffered the whole 640 MiB body
            writer.close()
            await writer.wait_closed()

    run(main())


@pytest.mark.parametrize("overload", ["reject", "backlog"])
def test_connection_limit(run: Callable[..., Any], overload: str) -> None:
    release = asyncio.Event()
    both_held = asyncio.Event()
    holding = 0

    async def handler(request: Request) -> Response:
        nonlocal holding
        if request.path == "/hold":
            holding += 1
            if holding == 2:
                both_held.set()
            await release.wait()
        return Response(b"served")

    async def main() -> None:
        limits = ServerLimits(max_connections=2, overload=overload)  # type: ignore[arg-type]
        async with running(handler, limits=limits) as server:
            holders = [await RawClient.connect(server) for _ in range(2)]
            for holder in holders:
                await holder.send(b"GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await both_held.wait()
            extra = await RawClient.connect(server)
            if overload == "reject":
                reply = await extra.read_until_closed()
                assert parse_status(reply) == 503 and b"retry-after: 1" in reply.lower()
                release.set()
            else:
                await extra.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                waiting = asyncio.ensure_future(extra.response())
                await asyncio.sleep(0.1)
                assert not waiting.done()  # queued in the kernel backlog, not served
                release.set()
                assert (await waiting).body == b"served"
            for holder in holders:
                assert (await holder.response()).body == b"served"
                await holder.close()
            await extra.close()

    run(main())


def test_timeouts_validate() -> None:
    with pytest.raises(ValueError):
        ServerTimeouts(keep_alive=-1)
    with pytest.raises(ValueError):
        ServerLimits(overload="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ServerLimits(max_request_line_bytes=10_000, max_header_bytes=5_000)
    assert ServerTimeouts().header_read == 10.0 and ServerLimits().max_body_bytes == 16 * 1024 * 1024


def test_tls_handshake_timeout_and_plaintext_client(run: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def main() -> None:
        timeouts = short_timeouts(tls_handshake=0.3)
        async with running(hello, ssl=server_context, timeouts=timeouts) as server:
            silent = await RawClient.connect(server)
            started = loop.time()
            assert await silent.read_until_closed() == b""  # never said hello: dropped
            assert 0.25 < loop.time() - started < 3.0
            await silent.close()
            plaintext = await RawClient.connect(server)
            await plaintext.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not (await plaintext.read_until_closed()).startswith(b"HTTP/")
            await plaintext.close()
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client_context, server_hostname="localhost"
            )
            client = RawClient(reader, writer)
            assert (await client.request("GET", "/")).body == b"hello"
            await client.close()

    run(main())
