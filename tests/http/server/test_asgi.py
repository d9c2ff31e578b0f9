"""ASGI 3: a Starlette application served unchanged, plus raw-protocol edge cases."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request as StarletteRequest  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

import tidal.http  # noqa: E402

from .helpers import RawClient, parse_status, running  # noqa: E402

events: list[str] = []


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    events.append("startup")
    yield {"greeting": "hello from lifespan"}
    events.append("shutdown")


async def index(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(request.state.greeting + " " + request.url.path + "?" + request.url.query)


async def upload(request: StarletteRequest) -> JSONResponse:
    sizes = [len(chunk) async for chunk in request.stream()]
    return JSONResponse({"total": sum(sizes), "client": request.client.host if request.client else None})


async def echo_json(request: StarletteRequest) -> JSONResponse:
    return JSONResponse({"you_sent": await request.json(), "method": request.method})


async def stream(request: StarletteRequest) -> StreamingResponse:
    async def numbers() -> AsyncIterator[bytes]:
        for index in range(5):
            yield b"line %d\n" % index

    return StreamingResponse(numbers(), media_type="text/plain")


async def boom(request: StarletteRequest) -> PlainTextResponse:
    raise RuntimeError("app bug")


def make_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", index),
            Route("/upload", upload, methods=["POST"]),
            Route("/json", echo_json, methods=["POST"]),
            Route("/stream", stream),
            Route("/boom", boom),
        ],
        lifespan=lifespan,
    )


def test_starlette_app_runs_unchanged(run: Callable[..., Any]) -> None:
    events.clear()

    async def main() -> None:
        async with running(make_app()) as server:
            assert events == ["startup"]
            client = await RawClient.connect(server)
            reply = await client.request("GET", "/?a=1")
            assert (reply.status, reply.body) == (200, b"hello from lifespan /?a=1")
            reply = await client.request("POST", "/json", [("Content-Type", "application/json")], b'{"k": [1, 2]}')
            assert reply.body == b'{"you_sent":{"k":[1,2]},"method":"POST"}'
            await client.send(
                b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
            )
            reply = await client.response()
            assert reply.body == b'{"total":7,"client":"127.0.0.1"}'
            reply = await client.request("GET", "/stream")
            assert reply.headers["transfer-encoding"] == "chunked"
            assert reply.body == b"".join(b"line %d\n" % index for index in range(5))
            reply = await client.request("HEAD", "/")
            assert reply.status == 200 and reply.body == b"" and reply.headers["content-length"] == "22"
            assert (await client.request("GET", "/missing")).status == 404
            await client.close()
        assert events == ["startup", "shutdown"]

    run(main())


def test_starlette_expect_continue_and_large_body(run: Callable[..., Any]) -> None:
    async def main() -> None:
        async with running(make_app()) as server:
            client = await RawClient.connect(server)
            body = b"z" * 300_000
            await client.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 300000\r\n\r\n")
            assert await client.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            await client.send(body)
            assert (await client.response()).body == b'{"total":300000,"client":"127.0.0.1"}'
            await client.close()

    run(main())


def test_app_exception_is_500_and_logged(run: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with running(make_app()) as server:
            client = await RawClient.connect(server)
            await client.send(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = await client.read_until_closed()
            assert parse_status(reply) == 500
            await client.close()

    with caplog.at_level(logging.ERROR, logger="tidal.http.server"):
        run(main())
    assert any("app bug" in str(record.exc_info) for record in caplog.records)


def test_raw_asgi_trailers_disconnect_and_protocol_errors(run: Callable[..., Any]) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan here")  # served without lifespan
        seen.append(scope)
        if scope["path"] == "/trailers":
            assert await receive() == {"type": "http.request", "body": b"", "more_body": False}
            await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")], "trailers": True})
            await send({"type": "http.response.body", "body": b"data", "more_body": False})
            await send({"type": "http.response.trailers", "headers": [(b"x-check", b"ok")], "more_trailers": False})
            assert await receive() == {"type": "http.disconnect"}
        elif scope["path"] == "/twice":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            await send({"type": "http.response.body", "body": b"again"})
        else:
            await send({"type": "http.response.body", "body": b"no start"})

    async def main() -> None:
        async with running(app) as server:
            client = await RawClient.connect(server)
            reply = await client.request("GET", "/trailers?q=%20")
            assert (reply.body, reply.trailers, reply.headers["x-a"]) == (b"data", {"x-check": "ok"}, "1")
            scope = seen[0]
            assert scope["asgi"]["version"] == "3.0" and scope["http_version"] == "1.1"
            assert scope["query_string"] == b"q=%20" and scope["raw_path"] == b"/trailers"
            assert scope["server"] == ("127.0.0.1", server.port) and scope["scheme"] == "http"
            assert (b"host", b"test") in scope["headers"]
            # A second body after the last one: the response already went out whole, then the app erred.
            await client.send(b"GET /twice HTTP/1.1\r\nHost: x\r\n\r\n")
            reply_bytes = await client.read_until_closed()
            assert parse_status(reply_bytes) == 204
            await client.close()
            client = await RawClient.connect(server)
            await client.send(b"GET /nostart HTTP/1.1\r\nHost: x\r\n\r\n")
            assert parse_status(await client.read_until_closed()) == 500
            await client.close()

    logging.getLogger("tidal.http.server").disabled = True
    try:
        run(main())
    finally:
        logging.getLogger("tidal.http.server").disabled = False


def test_lifespan_startup_failure_stops_serve(run: Callable[..., Any]) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})

    async def main() -> None:
        with pytest.raises(RuntimeError, match="database unreachable"):
            await tidal.http.serve(app, "127.0.0.1", 0)

    run(main())


def test_disconnect_is_reported_while_streaming(run: Callable[..., Any]) -> None:
    import asyncio

    outcome: list[str] = []
    done = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("no lifespan")
        assert (await receive())["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        if scope["path"] == "/pipelined":
            # Bytes of the next request do not count as a disconnect.
            waiting = asyncio.ensure_future(receive())
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await send({"type": "http.response.body", "body": b" last"})
            assert (await waiting)["type"] == "http.disconnect"  # reported once the response is over
            outcome.append("pipelined ok")
            return
        message = await receive()  # the client hangs up meanwhile
        outcome.append(message["type"])
        done.set()

    async def main() -> None:
        async with running(app) as server:
            client = await RawClient.connect(server)
            await client.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            await client.reader.readuntil(b"first")
            client.writer.close()
            await done.wait()
            await client.close()

            client = await RawClient.connect(server)
            await client.send(b"GET /pipelined HTTP/1.1\r\nHost: x\r\n\r\n")
            await client.reader.readuntil(b"first")
            await client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
            rest = await client.reader.readuntil(b"0\r\n\r\n")  # the end of the first response
            assert rest.startswith(b"\r\n5\r\n last")
            done.clear()
            head = await client.reader.readuntil(b"first")  # the pipelined request is served next
            assert head.startswith(b"HTTP/1.1 200 ") and outcome == ["http.disconnect", "pipelined ok"]
            client.writer.close()
            await done.wait()
            await client.close()
        assert outcome == ["http.disconnect", "pipelined ok", "http.disconnect"]

    run(main())


def test_lifespan_shutdown_that_hangs_is_cancelled(run: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    cancelled = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        try:
            await asyncio.Event().wait()  # never completes its shutdown
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        timeouts = tidal.http.ServerTimeouts(shutdown_grace=0.2)
        server = await tidal.http.serve(app, "127.0.0.1", 0, timeouts=timeouts, access_log=False)
        await server.aclose()

    with caplog.at_level(logging.ERROR, logger="tidal.http.server"):
        run(main())
    assert cancelled == [True]
    assert any("did not finish" in record.getMessage() for record in caplog.records)
