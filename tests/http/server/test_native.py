"""The native handler API on real loopback sockets, on tidal's loop and asyncio's."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import tidal.http
from tidal.http import Request, Response, ServerLimits

from .helpers import RawClient, parse_status, running


async def echo(request: Request) -> Response:
    body = await request.read()
    return Response(body, headers={"x-method": request.method, "x-path": request.path, "x-query": str(request.query)})


def test_get_post_keep_alive_and_bound_address(run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with running(echo) as server:
            host, port = server.addresses[0][:2]
            assert host == "127.0.0.1" and port == server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}"
            client = await RawClient.connect(server)
            first = await client.request("GET", "/a%20b?x=1&y=")
            second = await client.request("POST", "/echo", body=b"payload")
            assert (first.status, first.body, first.headers["x-path"]) == (200, b"", "/a b")
            assert first.headers["x-query"] == "[('x', '1'), ('y', '')]"
            assert first.headers["content-length"] == "0" and "date" in first.headers
            assert (second.status, second.body, second.headers["x-method"]) == (200, b"payload", "POST")
            await client.close()

    run(main())


def test_streamed_request_body_and_streamed_response_with_trailers(run: Callable[..., Any]) -> None:
    async def handler(request: Request) -> Response:
        digest = hashlib.sha256()
        sizes = []
        async for chunk in request.stream():
            digest.update(chunk)
            sizes.append(len(chunk))
        assert request.trailers["x-sum"] == "abc"

        async def body() -> AsyncIterator[bytes]:
            for index in range(3):
                yield b"piece %d;" % index

        async def trailers() -> dict[str, str]:
            return {"x-digest": digest.hexdigest()}

        return Response(body(), trailers=trailers, headers={"x-total": str(sum(sizes))})

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(
                b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n"
            )
            reply = await client.response()
            assert reply.status == 200 and reply.headers["transfer-encoding"] == "chunked"
            assert reply.body == b"piece 0;piece 1;piece 2;" and reply.headers["x-total"] == "11"
            assert reply.trailers == {"x-digest": hashlib.sha256(b"hello world").hexdigest()}
            await client.close()

    run(main())


def test_json_and_text_helpers(run: Callable[..., Any]) -> None:
    async def handler(request: Request) -> Response:
        data = await request.json()
        return Response.json({"got": data, "text": await request.text()}, status=201)

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            reply = await client.request("POST", "/", [("Content-Type", "application/json")], b'{"a": [1, 2]}')
            assert reply.status == 201 and reply.headers["content-type"] == "application/json"
            assert reply.body == b'{"got":{"a":[1,2]},"text":"{\\"a\\": [1, 2]}"}'
            await client.close()

    run(main())


def test_head_keeps_length_and_drops_body(run: Callable[..., Any]) -> None:
    closed = []

    async def handler(request: Request) -> Response:
        if request.path == "/stream":

            async def body() -> AsyncIterator[bytes]:
                closed.append(True)  # the producer runs only if iterated
                yield b"never sent"

            return Response(body())
        return Response(b"twelve bytes")

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            reply = await client.request("HEAD", "/")
            assert (reply.status, reply.headers["content-length"], reply.body) == (200, "12", b"")
            reply = await client.request("HEAD", "/stream")
            assert reply.status == 200 and reply.body == b""
            follow = await client.request("GET", "/")  # the connection is still in sync
            assert follow.body == b"twelve bytes"
            await client.close()
        assert closed == []  # HEAD: the body producer was closed without running

    run(main())


def test_pipelined_requests_are_answered_in_order(run: Callable[..., Any]) -> None:
    in_flight = 0
    most = 0

    async def handler(request: Request) -> Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)  # let the loop run: a second request must not start now
        in_flight -= 1
        return Response(request.path.encode())

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            batch = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % index for index in range(20))
            await client.send(batch + b"POST /last HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            bodies = [(await client.response()).body for _ in range(21)]
            assert bodies == [b"/%d" % index for index in range(20)] + [b"/last"]
            assert most == 1
            await client.close()

    run(main())


def test_connection_close_and_http10(run: Callable[..., Any]) -> None:
    async def stream_handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"one,"
            yield b"two"

        return Response(body())

    async def main() -> None:
        async with running(stream_handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await client.read_until_closed()
            assert parse_status(data) == 200 and data.endswith(b"3\r\ntwo\r\n0\r\n\r\n")
            assert b"connection: close" in data.lower()
            await client.close()

            client = await RawClient.connect(server)
            await client.send(b"GET / HTTP/1.0\r\n\r\n")
            data = await client.read_until_closed()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and body == b"one,two"  # delimited by closing
            assert b"transfer-encoding" not in head.lower()
            await client.close()

    run(main())


def test_expect_continue_is_sent_only_when_the_body_is_read(run: Callable[..., Any]) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/read":
            return Response(await request.read())
        return Response(b"refused", status=403)

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"POST /read HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            interim = await client.reader.readuntil(b"\r\n\r\n")
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            await client.send(b"body")
            reply = await client.response()
            assert (reply.status, reply.body) == (200, b"body")

            await client.send(b"POST /no HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            data = await client.read_until_closed()  # answered without 100, then closed
            assert parse_status(data) == 403 and b"100 Continue" not in data
            await client.close()

    run(main())


def test_handler_error_is_500_and_harms_no_other_connection(
    run: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/boom":
            raise ValueError("handler bug")
        if request.path == "/boom-head":
            raise ValueError("handler bug on HEAD")
        if request.path == "/none":
            return "not a response"  # type: ignore[return-value]
        return Response(b"fine")

    async def main() -> None:
        async with running(handler) as server:
            other = await RawClient.connect(server)
            assert (await other.request("GET", "/")).body == b"fine"
            client = await RawClient.connect(server)
            await client.send(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
            data = await client.read_until_closed()
            assert parse_status(data) == 500 and b"handler bug" not in data
            await client.close()
            client = await RawClient.connect(server)
            await client.send(b"HEAD /boom-head HTTP/1.1\r\nHost: x\r\n\r\n")
            data = await client.read_until_closed()
            assert parse_status(data) == 500 and data.endswith(b"\r\n\r\n")  # a HEAD answer has no body
            await client.close()
            client = await RawClient.connect(server)
            await client.send(b"GET /none HTTP/1.1\r\nHost: x\r\n\r\n")
            assert parse_status(await client.read_until_closed()) == 500
            await client.close()
            assert (await other.request("GET", "/")).body == b"fine"
            await other.close()

    with caplog.at_level(logging.ERROR, logger="tidal.http.server"):
        run(main())
    assert any("handler bug" in str(record.exc_info) for record in caplog.records)


def test_error_inside_a_streamed_body_cuts_the_connection(run: Callable[..., Any]) -> None:
    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("producer failed")

        return Response(body())

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = await client.read_until_closed()
            assert parse_status(data) == 200 and b"7\r\npartial\r\n" in data
            assert not data.endswith(b"0\r\n\r\n")  # no terminating chunk: the client sees truncation
            await client.close()

    logging.getLogger("tidal.http.server").disabled = True
    try:
        run(main())
    finally:
        logging.getLogger("tidal.http.server").disabled = False


def test_max_requests_per_connection(run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with running(echo, limits=ServerLimits(max_requests_per_connection=2)) as server:
            client = await RawClient.connect(server)
            first = await client.request("GET", "/")
            assert "connection" not in first.headers
            await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = await client.read_until_closed()
            assert parse_status(data) == 200 and b"connection: close" in data.lower()
            await client.close()

    run(main())


def test_unread_body_is_drained_or_the_connection_closed(run: Callable[..., Any]) -> None:
    async def ignore_body(request: Request) -> Response:
        return Response(b"ok")

    async def main() -> None:
        async with running(ignore_body, limits=ServerLimits(max_unread_body_bytes=1000)) as server:
            client = await RawClient.connect(server)
            assert (await client.request("POST", "/", body=b"x" * 500)).body == b"ok"
            assert (await client.request("GET", "/")).body == b"ok"  # drained: reused
            await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
            data = await client.read_until_closed()
            assert parse_status(data) == 200 and data.count(b"HTTP/1.1") == 1
            await client.close()

    run(main())


def test_graceful_close_finishes_in_flight_requests(run: Callable[..., Any]) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.path == "/slow":
            started.set()
            await release.wait()
        return Response(b"done")

    async def main() -> None:
        server = await tidal.http.serve(handler, "127.0.0.1", 0, access_log=False)
        idle = await RawClient.connect(server)
        assert (await idle.request("GET", "/")).body == b"done"
        busy = await RawClient.connect(server)
        await busy.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await started.wait()
        server.close()
        assert await idle.read_until_closed() == b""  # idle keep-alive connection closed at once
        with pytest.raises(OSError):
            await RawClient.connect(server)  # no longer accepting
        closing = asyncio.ensure_future(server.wait_closed())
        release.set()
        data = await busy.read_until_closed()
        assert parse_status(data) == 200 and data.endswith(b"done") and b"connection: close" in data.lower()
        await closing
        await idle.close()
        await busy.close()

    run(main())


def test_grace_period_cancels_stuck_handlers(run: Callable[..., Any]) -> None:
    cancelled = []

    async def handler(request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(request.path)
            raise
        raise AssertionError("unreachable")

    async def main() -> None:
        timeouts = tidal.http.ServerTimeouts(shutdown_grace=0.2)
        server = await tidal.http.serve(handler, "127.0.0.1", 0, access_log=False, timeouts=timeouts)
        client = await RawClient.connect(server)
        await client.send(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
        while not server.active_connections:
            await asyncio.sleep(0)
        for _ in range(20):  # let the request reach the handler
            await asyncio.sleep(0)
        await server.aclose()
        assert cancelled == ["/stuck"] and server.active_connections == 0
        assert await client.read_until_closed() == b""
        await client.close()

    run(main())


def test_slow_reader_makes_the_producer_wait(run: Callable[..., Any]) -> None:
    produced = 0
    piece = b"x" * 65536

    async def handler(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            nonlocal produced
            for _ in range(2000):  # 128 MiB if nobody pushed back
                produced += 1
                yield piece

        return Response(body())

    async def main() -> None:
        async with running(handler, timeouts=tidal.http.ServerTimeouts(shutdown_grace=0)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=65536)
            writer.transport.set_write_buffer_limits(0)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.read(1000)
            writer.transport.pause_reading()
            for _ in range(200):  # give the server every chance to run ahead
                await asyncio.sleep(0.001)
            # Bounded by the socket buffers (a few MiB), not by the 128 MiB body.
            assert produced * len(piece) < 16 * 1024 * 1024
            writer.close()
            await writer.wait_closed()

    run(main())


def test_serve_rejects_workers_and_odd_callables(run: Callable[..., Any]) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="workers must be 1"):
            await tidal.http.serve(echo, "127.0.0.1", 0, workers=2)
        with pytest.raises(TypeError, match="positional parameters"):
            await tidal.http.serve(lambda a, b: None, "127.0.0.1", 0)

    run(main())


def test_response_validation() -> None:
    with pytest.raises(ValueError):
        Response(status=101)
    assert Response("é").headers["content-type"] == "text/plain; charset=utf-8"
    assert Response.html("<p>").body == b"<p>"


def test_unsendable_responses_close_only_their_connection(
    run: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/header":
            return Response(b"x", headers={"X-Bad": "a\r\nInjected: yes"})
        if request.path == "/length":
            return Response(b"four", headers={"Content-Length": "9"})
        return Response(b"fine")

    async def main() -> None:
        async with running(handler) as server:
            other = await RawClient.connect(server)
            for target, status in (("/header", b"HTTP/1.1 500 "), ("/length", b"")):
                client = await RawClient.connect(server)
                await client.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
                data = await client.read_until_closed()
                # An invalid head is caught before anything is sent (500); a body
                # that breaks its own framing is noticed mid-response (cut off).
                assert data.startswith(status) if status else data == b""
                assert b"Injected" not in data
                await client.close()
            assert (await other.request("GET", "/")).body == b"fine"
            await other.close()

    with caplog.at_level(logging.ERROR, logger="tidal.http.server"):
        run(main())
    messages = [record.getMessage() for record in caplog.records]
    assert any("broke HTTP framing" in message for message in messages)
    assert any("handler failed for GET /header" in message for message in messages)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pipelined_batch_survives_random_splits(run: Callable[..., Any], seed: int) -> None:
    import random

    batch = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"
        b"\r\nHEAD /d HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(batch)), 12))
    pieces = [batch[start:end] for start, end in zip([0, *cuts], [*cuts, len(batch)])]

    async def main() -> None:
        async with running(echo) as server:
            client = await RawClient.connect(server)
            for piece in pieces:
                await client.send(piece)
            replies = [await client.response(head=index == 3) for index in range(5)]
            assert [reply.body for reply in replies] == [b"hello", b"", b"abcde", b"", b""]
            assert [reply.headers["x-path"] for reply in replies] == ["/a", "/b", "/c", "/d", "/e"]
            assert replies[3].headers["content-length"] == "0"
            await client.close()

    run(main())


def test_server_closed_right_after_start_closes_its_listeners(run: Callable[..., Any]) -> None:
    async def main() -> None:
        server = await tidal.http.serve(echo, "127.0.0.1", 0, access_log=False)
        sockets = server.sockets
        await server.aclose()  # before the accept tasks ever ran
        assert [sock.fileno() for sock in sockets] == [-1]

    run(main())
