"""Bad requests, sent whole and byte by byte: each gets its status, then the connection closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tidal.http import Request, Response, ServerLimits
from tidal.protocols.http import HTTPRemoteProtocolError

from .helpers import RawClient, parse_status, running

LIMITS = ServerLimits(max_header_bytes=2048, max_header_count=10, max_request_line_bytes=256, max_body_bytes=1000)
HOST = b"Host: x\r\n"

CASES = {
    # Request smuggling shapes (RFC 9112 §6.1, §6.3, §5.2, §2.2).
    "cl-and-te": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "duplicate-cl": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "cl-list": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 3, 3\r\n\r\nabc", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: one\r\n two\r\n\r\n", 400),
    "bare-lf": (b"GET / HTTP/1.1\n" + HOST + b"\r\n", 400),
    "bare-lf-in-header": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: b\n\r\n", 400),
    "space-before-colon": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A : b\r\n\r\n", 400),
    "bad-chunk-size": (b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    "garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "negative-cl": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n", 400),
    # Limits.
    "request-line-too-long": (b"GET /" + b"a" * 400 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    "header-block-too-big": (b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"b" * 3000 + b"\r\n\r\n", 431),
    "too-many-headers": (b"GET / HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: v\r\n" % i for i in range(12)) + b"\r\n", 431),
    "content-length-too-big": (b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 5000\r\n\r\n", 413),
    "chunked-body-too-big": (
        b"POST / HTTP/1.1\r\n"
        + HOST
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"64\r\n" + b"x" * 100 + b"\r\n" for _ in range(11))
        + b"0\r\n\r\n",
        413,
    ),
    "unsupported-transfer-coding": (b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    "http-version": (b"GET / HTTP/2.0\r\n" + HOST + b"\r\n", 505),
}


async def read_body(request: Request) -> Response:
    return Response(b"read %d" % len(await request.read()))


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_request_gets_its_status_and_a_close(run: Callable[..., Any], name: str, byte_by_byte: bool) -> None:
    data, status = CASES[name]

    async def main() -> None:
        async with running(read_body, limits=LIMITS) as server:
            healthy = await RawClient.connect(server)
            client = await RawClient.connect(server)
            received = bytearray()

            async def read_all() -> None:
                while chunk := await client.reader.read(65536):
                    received.extend(chunk)

            reading = asyncio.ensure_future(read_all())
            try:
                for index in range(len(data)) if byte_by_byte else [None]:
                    if received:
                        break  # answered early: stop sending, as a real client would
                    await client.send(data if index is None else data[index : index + 1])
                client.writer.write_eof()
            except OSError:
                pass  # the server closed before the last byte
            await reading
            reply = bytes(received)
            assert parse_status(reply) == status, reply
            assert reply.count(b"\r\ndate: ") == 1 and b"connection: close" in reply.lower()
            await client.close()
            # The loop and the other connections are unharmed.
            assert (await healthy.request("POST", "/", body=b"fine")).body == b"read 4"
            await healthy.close()

    run(main())


def test_valid_control_cases_still_pass(run: Callable[..., Any]) -> None:
    """The limits are not off by one: a request right at them is served."""

    async def main() -> None:
        async with running(read_body, limits=LIMITS) as server:
            client = await RawClient.connect(server)
            headers = [(f"X-{index}", "v") for index in range(8)]  # with Host and Content-Length: 10 fields
            assert (await client.request("POST", "/", headers, b"x" * 1000)).body == b"read 1000"
            await client.send(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")  # one leading empty line is ignored
            assert (await client.response()).status == 200
            await client.close()

    run(main())


def test_client_vanishing_mid_body_leaves_the_server_healthy(run: Callable[..., Any]) -> None:
    seen: list[BaseException] = []
    failed = asyncio.Event()

    async def handler(request: Request) -> Response:
        if request.method == "GET":
            return Response(b"healthy")
        try:
            await request.read()
        except HTTPRemoteProtocolError as exc:
            seen.append(exc)
            failed.set()
            raise
        return Response(b"complete")

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            await client.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly some")
            client.writer.transport.abort()
            await failed.wait()
            await client.close()
            other = await RawClient.connect(server)
            assert (await other.request("GET", "/")).body == b"healthy"
            await other.close()
        assert isinstance(seen[0], HTTPRemoteProtocolError)

    run(main())
