"""File bodies: ``os.sendfile`` over plain TCP on tidal's loop, chunked reads elsewhere.

Every test runs on tidal's loop and asyncio's (conftest); on tidal's loop
``os.sendfile`` must actually carry the body, on asyncio's the chunked
fallback must give the same bytes.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tidal.http import FileBody, Request, Response, StaticFiles
from tidal.protocols.http import SERVER, Data, EndOfMessage, HTTPConnection, HTTPLocalProtocolError
from tidal.protocols.http import Response as WireResponse

from .helpers import RawClient, running, short_timeouts

CONTENT = bytes(range(256)) * (40 * 1024)  # 10 MiB: more than one 4 MiB sendfile slice


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes asked of each ``os.sendfile`` call made while the test runs."""
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


def test_a_file_body_is_sent_by_the_kernel_on_tidals_loop(
    run: Callable[..., Any], loop_kind: str, data_file: Path, sendfile_calls: list[int]
) -> None:
    async def handler(request: Request) -> Response:
        return Response(FileBody(data_file))

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            for _ in range(2):  # keep-alive: the next request on the same connection works
                reply = await client.request("GET", "/")
                assert reply.status == 200 and reply.body == CONTENT
                assert reply.headers["content-length"] == str(len(CONTENT))
            await client.close()

    run(main())
    if loop_kind == "tidal":
        assert sendfile_calls and sum(sendfile_calls) >= 2 * len(CONTENT) - 2 * 65536
    else:
        assert sendfile_calls == []  # transports own the socket there: read in chunks


def test_regions_ranges_and_head(run: Callable[..., Any], data_file: Path, sendfile_calls: list[int]) -> None:
    async def main() -> None:
        async with running(StaticFiles(data_file.parent)) as server:
            client = await RawClient.connect(server)
            reply = await client.request("GET", "/data.bin", [("Range", "bytes=1000-5000999")])
            assert reply.status == 206 and reply.body == CONTENT[1000:5001000]
            reply = await client.request("HEAD", "/data.bin")
            assert reply.status == 200 and reply.body == b"" and reply.headers["content-length"] == str(len(CONTENT))
            reply = await client.request("GET", "/data.bin", [("Range", "bytes=-10")])
            assert reply.body == CONTENT[-10:]
            await client.close()

    run(main())


def test_an_empty_file(run: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")

    async def handler(request: Request) -> Response:
        return Response(FileBody(tmp_path / "empty"))

    async def main() -> None:
        async with running(handler) as server:
            client = await RawClient.connect(server)
            reply = await client.request("GET", "/")
            assert reply.status == 200 and reply.body == b"" and reply.headers["content-length"] == "0"
            await client.close()

    run(main())


def test_a_file_shorter_than_its_region_cuts_the_connection(run: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 1000)

    async def handler(request: Request) -> Response:
        return Response(FileBody(path, 0, 5000))  # claims more than the file holds

    async def main() -> None:
        async with running(handler) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := await reader.read(65536):  # the server closes: never a wrong body
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            assert b"content-length: 5000" in head.lower() and body == b"x" * 1000
            writer.close()
            await writer.wait_closed()

    run(main())


def test_a_stalled_reader_is_cut_off_by_the_write_timeout(run: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with open(path, "wb") as file:
        file.truncate(256 * 1024 * 1024)  # sparse: 256 MiB that no socket buffer holds

    async def handler(request: Request) -> Response:
        return Response(FileBody(path))

    async def main() -> None:
        async with running(handler, timeouts=short_timeouts(write=0.3)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.read(100)
            writer.transport.pause_reading()
            for _ in range(500):  # the server gives up within its write timeout
                if server.active_connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert server.active_connections == 0
            writer.close()
            await writer.wait_closed()

    run(main())


def test_over_tls_the_region_is_read_in_chunks(
    run: Callable[..., Any], data_file: Path, sendfile_calls: list[int]
) -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    async def handler(request: Request) -> Response:
        return Response(FileBody(data_file, 10, 300_000))

    async def main() -> None:
        async with running(handler, ssl=server_context) as server:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=client_context, server_hostname="localhost"
            )
            client = RawClient(reader, writer)
            reply = await client.request("GET", "/")
            assert reply.body == CONTENT[10:300_010]
            await client.close()

    run(main())
    assert sendfile_calls == []  # TLS needs the bytes in Python


def test_file_body_arguments() -> None:
    with pytest.raises(ValueError):
        FileBody("/dev/null", -1)
    with pytest.raises(ValueError):
        FileBody("/dev/null", 0, -5)
    with pytest.raises(FileNotFoundError):
        FileBody("/nonexistent/file")


@pytest.mark.parametrize("fast", [True, False])
def test_engine_passthrough_framing(fast: bool) -> None:
    """send_passthrough counts like Data of that length, in both framings and on both engine paths."""
    engine = HTTPConnection(SERVER)
    engine._fast_enabled = fast
    engine.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    engine.next_event(), engine.next_event()
    engine.send(WireResponse(status_code=200, headers=[("content-length", "10")]))
    assert engine.send_passthrough(4) == (b"", b"")
    assert engine.send(Data(data=b"ab")) == b"ab"
    assert engine.send_passthrough(4) == (b"", b"")
    with pytest.raises(ValueError):
        engine.send_passthrough(0)
    assert engine.send(EndOfMessage()) == b""
    engine.start_next_cycle()
    engine.next_event(), engine.next_event()
    engine.send(WireResponse(status_code=200, headers=[]))  # chunked
    assert engine.send_passthrough(26) == (b"1a\r\n", b"\r\n")
    assert engine.send(EndOfMessage()) == b"0\r\n\r\n"
    with pytest.raises(HTTPLocalProtocolError):
        engine.send_passthrough(1)  # the message is over


@pytest.mark.parametrize("fast", [True, False])
def test_engine_passthrough_refuses_too_much(fast: bool) -> None:
    engine = HTTPConnection(SERVER)
    engine._fast_enabled = fast
    engine.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    engine.next_event(), engine.next_event()
    engine.send(WireResponse(status_code=200, headers=[("content-length", "3")]))
    with pytest.raises(HTTPLocalProtocolError, match="Too much data"):
        engine.send_passthrough(4)
    assert engine.our_state.__name__ == "ERROR"
