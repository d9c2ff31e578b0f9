"""The in-memory stream pairs pass the conformance checker and keep their own promises."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tidal.streams import ByteStream, StreamBroken
from tidal.testing import ConformanceError, check_two_way_stream, lockstep_stream_pair, memory_stream_pair


async def make_buffered() -> tuple[ByteStream, ByteStream]:
    return memory_stream_pair()


async def make_lockstep() -> tuple[ByteStream, ByteStream]:
    return lockstep_stream_pair()


async def make_tiny_buffer() -> tuple[ByteStream, ByteStream]:
    return memory_stream_pair(max_buffer=0)


@pytest.mark.parametrize("make_pair", [make_buffered, make_lockstep, make_tiny_buffer])
def test_memory_pairs_conform(run: Any, make_pair: Any) -> None:
    run(check_two_way_stream(make_pair))


def test_buffered_send_waits_while_over_the_limit(run: Any) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair(max_buffer=10)
        async with left, right:
            await left.send_all(b"0123456789")  # at the limit: completes
            pending = asyncio.ensure_future(left.send_all(b"x"))
            await asyncio.sleep(0)
            assert not pending.done()
            assert await right.receive_some(5) == b"01234"
            await pending

    run(scenario())


def test_lockstep_send_cancelled_half_way_breaks_both_sides(run: Any) -> None:
    async def scenario() -> None:
        left, right = lockstep_stream_pair()
        async with left, right:
            pending = asyncio.ensure_future(left.send_all(b"abcdef"))
            await asyncio.sleep(0)
            assert await right.receive_some(2) == b"ab"
            pending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pending
            with pytest.raises(StreamBroken):
                await right.receive_some()
            with pytest.raises(StreamBroken):
                await left.send_all(b"more")

    run(scenario())


def test_memory_pair_rejects_negative_buffer() -> None:
    with pytest.raises(ValueError, match="max_buffer"):
        memory_stream_pair(max_buffer=-1)


class _LosesBytesOnCancel(ByteStream):
    """A deliberately broken stream: drops a chunk when a receive is cancelled."""

    def __init__(self, inner: ByteStream) -> None:
        self._inner = inner

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        count = await self._inner.receive_into(buffer)
        await asyncio.sleep(0)  # cancellation here loses what was just read
        return count

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_checker_catches_a_stream_that_loses_bytes(run: Any) -> None:
    async def make_pair() -> tuple[ByteStream, ByteStream]:
        left, right = memory_stream_pair()
        return left, _LosesBytesOnCancel(right)

    with pytest.raises(ConformanceError, match="cancel"):
        run(check_two_way_stream(make_pair))
