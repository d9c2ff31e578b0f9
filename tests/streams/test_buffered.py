"""BufferedStream: conformance, exact reads, delimiters, lines and limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidal.streams import ByteStream, StreamLimitExceeded
from tidal.streams._buffered import BufferedStream, PrematureEOF
from tidal.testing import check_two_way_stream, lockstep_stream_pair, memory_stream_pair

from .helpers import tcp_pair


async def buffered_memory_pair() -> tuple[ByteStream, ByteStream]:
    left, right = memory_stream_pair()
    return BufferedStream(left), BufferedStream(right)


async def buffered_tcp_pair() -> tuple[ByteStream, ByteStream]:
    left, right = await tcp_pair()
    return BufferedStream(left), BufferedStream(right)


@pytest.mark.parametrize("make_pair", [buffered_memory_pair, buffered_tcp_pair], ids=["memory", "tcp"])
def test_buffered_streams_conform(run: Any, make_pair: Any) -> None:
    run(check_two_way_stream(make_pair, max_cancel_points=30))


async def _fed(*chunks: bytes) -> BufferedStream:
    left, right = memory_stream_pair(max_buffer=1 << 20)
    for chunk in chunks:
        await left.send_all(chunk)
    await left.aclose()
    return BufferedStream(right, read_size=4)


def test_receive_exactly_and_until(run: Any) -> None:
    async def scenario() -> None:
        stream = await _fed(b"HEAD", b"ER\r\n\r\nbody-bytes", b"tail")
        async with stream:
            assert await stream.receive_exactly(3) == b"HEA"
            assert await stream.receive_until(b"\r\n\r\n", 100) == b"DER\r\n\r\n"
            assert await stream.receive_exactly(0) == b""
            assert await stream.receive_exactly(10) == b"body-bytes"
            with pytest.raises(PrematureEOF, match="after 4 of the 9 bytes") as caught:
                await stream.receive_exactly(9)
            assert caught.value.partial_size == 4
            assert await stream.receive_some() == b"tail"  # kept for the caller
            assert await stream.receive_some() == b""

    run(scenario())


def test_receive_until_limit_names_the_limit_and_keeps_data(run: Any) -> None:
    async def scenario() -> None:
        stream = await _fed(b"x" * 50, b"\n")
        async with stream:
            with pytest.raises(StreamLimitExceeded, match="max_bytes=20") as caught:
                await stream.receive_until(b"\n", 20)
            assert caught.value.limit_name == "max_bytes" and caught.value.limit == 20
            assert await stream.receive_until(b"\n", 100) == b"x" * 50 + b"\n"
            with pytest.raises(PrematureEOF):
                await stream.receive_until(b"\n", 100)

    run(scenario())


def test_delimiter_split_across_chunks(run: Any) -> None:
    async def scenario() -> None:
        stream = await _fed(b"ab\r", b"\ncd\r", b"\n")
        async with stream:
            assert await stream.receive_until(b"\r\n", 10) == b"ab\r\n"
            assert await stream.receive_until(b"\r\n", 4) == b"cd\r\n"  # exactly at the limit

    run(scenario())


def test_readline(run: Any) -> None:
    async def scenario() -> None:
        stream = await _fed(b"one\ntw", b"o\n", b"x" * 30 + b"\nlast")
        async with stream:
            assert await stream.readline() == b"one\n"
            assert await stream.readline() == b"two\n"
            with pytest.raises(StreamLimitExceeded, match="limit=10"):
                await stream.readline(limit=10)
            assert await stream.readline() == b"x" * 30 + b"\n"
            assert await stream.readline() == b"last"
            assert await stream.readline() == b""

    run(scenario())


def test_unreceive_comes_back_first(run: Any) -> None:
    async def scenario() -> None:
        stream = await _fed(b"world")
        async with stream:
            stream.unreceive(b"hello ")
            assert await stream.receive_exactly(11) == b"hello world"
            assert stream.buffered == 0

    run(scenario())


def test_cancelled_receive_until_keeps_partial_data(run: Any) -> None:
    async def scenario() -> None:
        left, right = lockstep_stream_pair()
        stream = BufferedStream(right)
        async with left, stream:
            pending = asyncio.ensure_future(stream.receive_until(b"\n", 100))
            await left.send_all(b"partial ")
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            sender = asyncio.ensure_future(left.send_all(b"line\n"))
            assert await stream.receive_until(b"\n", 100) == b"partial line\n"
            await sender

    run(scenario())


def test_receive_only_stream_cannot_send(run: Any) -> None:
    async def scenario() -> None:
        from tidal.streams._decompress import DecompressStream

        left, right = memory_stream_pair()
        stream = BufferedStream(DecompressStream(right, "gzip"))
        async with left, stream:
            with pytest.raises(TypeError, match="receive-only"):
                await stream.send_all(b"x")

    run(scenario())
