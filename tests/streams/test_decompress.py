"""DecompressStream / CompressStream: conformance, every coding, bombs and corrupt input."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest

from tidal.streams import ReceiveStream, SendStream, StreamBroken, StreamLimitExceeded
from tidal.streams._decompress import CompressStream, DecompressStream
from tidal.testing import check_one_way_stream, memory_stream_pair

from .helpers import tcp_pair

CODINGS = ["gzip", "deflate", "zlib", "deflate-raw", "br", "zstd"]


def pair_maker(coding: str, transport: str = "memory") -> Any:
    async def make() -> tuple[SendStream, ReceiveStream]:
        if transport == "tcp":
            left, right = await tcp_pair()
        else:
            left, right = memory_stream_pair()
        # The checker's clogging payloads are zeros: far beyond any sane ratio.
        return CompressStream(left, coding), DecompressStream(right, coding, max_ratio=None)

    return make


@pytest.mark.parametrize("coding", CODINGS)
def test_decompress_streams_conform(run: Any, coding: str) -> None:
    run(check_one_way_stream(pair_maker(coding), large_size=512 * 1024, max_cancel_points=20))


def test_decompress_over_tcp_conforms(run: Any) -> None:
    run(check_one_way_stream(pair_maker("gzip", "tcp"), large_size=512 * 1024, max_cancel_points=20))


async def _decompress_all(payload: bytes, coding: str = "gzip", chunk: int = 7, **limits: Any) -> bytes:
    left, right = memory_stream_pair(max_buffer=len(payload) + 1)
    for offset in range(0, len(payload), chunk):
        await left.send_all(payload[offset : offset + chunk])
    await left.aclose()
    out = bytearray()
    async with DecompressStream(right, coding, **limits) as stream:
        async for piece in stream:
            out += piece
    return bytes(out)


def test_multi_member_gzip_in_tiny_chunks(run: Any) -> None:
    payload = gzip.compress(b"first member\n") + gzip.compress(b"second member\n")
    assert run(_decompress_all(payload)) == b"first member\nsecond member\n"


def test_gzip_bomb_is_stopped_with_a_named_limit(run: Any) -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024))

    async def scenario() -> None:
        left, right = memory_stream_pair(max_buffer=len(bomb))
        await left.send_all(bomb)
        await left.aclose()
        async with DecompressStream(right, "gzip", max_output=1024 * 1024) as stream:
            with pytest.raises(StreamLimitExceeded, match="max_output=1048576") as caught:
                async for _ in stream:
                    pass
            assert caught.value.limit_name == "max_output"
            with pytest.raises(StreamBroken):  # and it stays broken
                await stream.receive_some()

    run(scenario())


def test_ratio_limit_stops_a_bomb_without_max_output(run: Any) -> None:
    bomb = gzip.compress(bytes(20 * 1024 * 1024))
    with pytest.raises(StreamLimitExceeded, match="ratio") as caught:
        run(_decompress_all(bomb, chunk=65536))
    assert caught.value.limit_name == "max_ratio"


@pytest.mark.parametrize(
    "payload, message",
    [
        (gzip.compress(b"hello world" * 100)[:-5], "invalid"),
        (b"\x1f\x8b\x08\x00garbage-after-magic" * 3, "invalid"),
        (zlib.compress(b"not gzip"), "invalid"),
    ],
    ids=["truncated", "corrupt", "wrong-format"],
)
def test_bad_input_is_stream_broken(run: Any, payload: bytes, message: str) -> None:
    with pytest.raises(StreamBroken, match=message) as caught:
        run(_decompress_all(payload))
    assert caught.value.__cause__ is not None


def test_compress_stream_without_flushing(run: Any) -> None:
    async def scenario() -> bytes:
        left, right = memory_stream_pair(max_buffer=1 << 20)
        sender = CompressStream(left, "gzip", flush_each_send=False)
        for _ in range(100):
            await sender.send_all(b"log line\n")
        await sender.aclose()
        data = bytearray()
        async for chunk in right:
            data += chunk
        await right.aclose()
        return bytes(data)

    assert gzip.decompress(run(scenario())) == b"log line\n" * 100


@pytest.mark.parametrize("chunk", [7, 1 << 20], ids=["small-chunks", "one-chunk"])
def test_output_before_corrupt_bytes_arrives_before_the_error(run: Any, chunk: int) -> None:
    good = b"every line before the fault\n" * 500
    payload = gzip.compress(good) + b"<html>not gzip</html>"

    async def scenario() -> bytes:
        left, right = memory_stream_pair(max_buffer=len(payload) + 1)
        for offset in range(0, len(payload), chunk):
            await left.send_all(payload[offset : offset + chunk])
        await left.aclose()
        received = bytearray()
        async with DecompressStream(right, "gzip") as stream:
            with pytest.raises(StreamBroken, match="trailing garbage after gzip member 1"):
                while piece := await stream.receive_some(4096):
                    received += piece
        return bytes(received)

    assert run(scenario()) == good
