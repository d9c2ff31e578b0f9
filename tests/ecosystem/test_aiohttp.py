"""aiohttp's client and ``aiohttp.web`` server exchanging requests on tidal's loop."""

from __future__ import annotations

import asyncio
import json

import pytest

import tidal.loop

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402


async def _exchange() -> list[object]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.match_info['name']}")

    async def echo(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"got": body, "loop": type(asyncio.get_running_loop()).__name__})

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_compression()
        await response.prepare(request)
        for index in range(200):
            await response.write(f"line {index}\n".encode())
        await response.write_eof()
        return response

    app = web.Application()
    app.add_routes([web.get("/hello/{name}", hello), web.post("/echo", echo), web.get("/stream", stream)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    results: list[object] = []
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/hello/tidal") as response:
                results.append((response.status, await response.text()))
            async with session.post(f"http://127.0.0.1:{port}/echo", json={"n": [1, 2]}) as response:
                results.append(await response.json())
            async with session.get(f"http://127.0.0.1:{port}/stream", headers={"Accept-Encoding": "gzip"}) as response:
                lines = [line async for line in response.content]
                results.append((response.headers.get("Content-Encoding"), len(lines), lines[-1]))
            many = await asyncio.gather(*(session.get(f"http://127.0.0.1:{port}/hello/{i}") for i in range(20)))
            results.append(sorted([await r.text() for r in many])[:2])
            for r in many:
                r.release()
    finally:
        await runner.cleanup()
    return results


def test_aiohttp_client_and_server_on_tidal() -> None:
    results = tidal.loop.run(_exchange())
    assert results[0] == (200, "hello tidal")
    assert results[1] == {"got": {"n": [1, 2]}, "loop": "EventLoop"}
    assert results[2] == ("gzip", 200, b"line 199\n")
    assert results[3] == ["hello 0", "hello 1"]
    json.dumps(results[1])
