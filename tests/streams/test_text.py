"""TextStream over memory streams and real TCP sockets, on three loops.

io.TextIOWrapper over the same bytes is the oracle for lines, ``read(n)`` and
mixed reads; bad input is parametrized with its exception type and message.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import gzip
import io
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tidal.protocols.text import InvalidTextError, LineTooLongError, UnknownEncodingError
from tidal.streams import (
    CompressStream,
    DecompressStream,
    ReceiveStream,
    SendStream,
    StreamBroken,
    StreamBusy,
    StreamClosed,
    StreamLimitExceeded,
    TextStream,
)
from tidal.testing import lockstep_stream_pair, memory_stream_pair

from .helpers import tcp_pair

LOG = "GET /a 200\r\nGET /b 404\nnaïve café\r\r\n東京 ✓ 😀\n\nlast line without end"
Run = Callable[..., Any]


def pieces(data: bytes, seed: int, max_piece: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out, offset = [], 0
    while offset < len(data):
        size = rng.randint(1, max_piece)
        out.append(data[offset : offset + size])
        offset += size
    return out


async def feed(sender: SendStream, chunks: list[bytes], eof: bool = True) -> None:
    """Send ``chunks`` one by one (each a separate receive on the other side), then EOF."""
    for chunk in chunks:
        await sender.send_all(chunk)
    if eof:
        await sender.aclose()


async def with_sender(
    chunks: list[bytes], consume: Callable[[TextStream], Awaitable[Any]], *, transport: str = "memory", **options: Any
) -> Any:
    """Run ``consume(TextStream(receiver))`` while another task sends ``chunks``.

    In memory, a lockstep pair delivers each chunk in its own receive, so the
    chunk edges the test chose are the edges the text stream sees.
    """
    left, right = await tcp_pair() if transport == "tcp" else lockstep_stream_pair()
    sending = asyncio.ensure_future(feed(left, chunks))
    try:
        async with TextStream(right, **options) as text:
            return await consume(text)
    finally:
        await asyncio.gather(sending, return_exceptions=True)
        await left.aclose()


async def all_lines(text: TextStream) -> list[str]:
    return [line async for line in text]


def oracle_lines(data: bytes, encoding: str = "utf-8", newline: str | None = None) -> list[str]:
    return list(io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=newline))


# -- agreement with io.TextIOWrapper ------------------------------------------------------


def test_lines_match_textiowrapper_whatever_the_chunking(run: Run) -> None:
    data = LOG.encode()
    for newline in (None, "", "\n", "\r", "\r\n"):
        for seed in range(3):
            got = run(with_sender(pieces(data, seed), all_lines, encoding="utf-8", newline=newline))
            assert got == oracle_lines(data, newline=newline), (newline, seed)


@pytest.mark.parametrize("size", [1, 3, 16])
def test_read_n_characters_matches_textiowrapper(run: Run, size: int) -> None:
    data = LOG.encode() * 4

    async def consume(text: TextStream) -> list[str]:
        out = []
        while chunk := await text.read(size):
            out.append(chunk)
        return out

    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    expected = list(iter(lambda: wrapper.read(size), ""))
    assert run(with_sender(pieces(data, 1), consume)) == expected


def test_mixed_reads_match_textiowrapper(run: Run) -> None:
    data = (LOG + "\n").encode() * 3
    plan = ["line", 5, "line", "line", 1, 40, "line", "lines", "line", -1, "line"]

    async def consume(text: TextStream) -> list[Any]:
        out: list[Any] = []
        for step in plan:
            if step == "line":
                out.append(await text.readline())
            elif step == "lines":
                out.append(await text.readlines(1))
            else:
                assert isinstance(step, int)
                out.append(await text.read(step))
        return out

    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    expected: list[Any] = []
    for step in plan:
        if step == "line":
            expected.append(wrapper.readline())
        elif step == "lines":
            expected.append(wrapper.readlines(1))
        else:
            expected.append(wrapper.read(step))  # type: ignore[arg-type]
    assert run(with_sender(pieces(data, 2, max_piece=20), consume)) == expected


def test_readlines_batches_and_read_all(run: Run) -> None:
    data = "".join(f"line {i}\n" for i in range(2000)).encode()

    async def consume(text: TextStream) -> tuple[list[list[str]], str]:
        batches = []
        while len(batches) < 3:
            batches.append(await text.readlines(100))
        return batches, await text.read()

    batches, rest = run(with_sender(pieces(data, 3, 4096), consume))
    assert all(sum(map(len, batch)) >= 100 for batch in batches)
    assert "".join(line for batch in batches for line in batch) + rest == data.decode()
    assert run(with_sender([data], lambda text: text.readlines())) == data.decode().splitlines(True)


def test_lines_over_real_tcp_sockets(run: Run) -> None:
    data = "".join(f"{i} naïve 東京 ✓\r\n" for i in range(3000)).encode()
    got = run(with_sender(pieces(data, 4, 5000), all_lines, transport="tcp"))
    assert got == oracle_lines(data)


def test_gzip_to_text_over_a_socket(run: Run) -> None:
    lines = [f"{i} GET /log café\n" for i in range(5000)]

    async def scenario() -> list[str]:
        client, server = await tcp_pair()

        async def send() -> None:
            async with CompressStream(client, "gzip") as compressing:
                for index in range(0, len(lines), 700):
                    await compressing.send_all("".join(lines[index : index + 700]).encode())

        sending = asyncio.ensure_future(send())
        async with TextStream(DecompressStream(server, "gzip")) as text:
            received = [line async for line in text]
        await sending
        return received

    assert run(scenario()) == lines


def test_bom_is_sniffed_over_the_stream(run: Run) -> None:
    data = codecs.BOM_UTF16_LE + "héllo\nwörld\n".encode("utf-16-le")

    async def consume(text: TextStream) -> tuple[list[str], str | None]:
        return [line async for line in text], text.encoding

    assert run(with_sender(pieces(data, 5, 3), consume)) == (["héllo\n", "wörld\n"], "utf-16-le")


def test_empty_stream_and_repeated_eof(run: Run) -> None:
    async def consume(text: TextStream) -> list[Any]:
        return [await text.readline(), await text.read(5), await text.read(), await text.readlines(), await text.readline()]

    assert run(with_sender([], consume)) == ["", "", "", [], ""]


# -- bad input ---------------------------------------------------------------------------


INVALID_TEXT_CASES: list[tuple[list[bytes], str | None, str, int]] = [
    # The invalid byte is the first of a chunk; the character began in the previous one.
    ([b"ok line\nab\xe6", b"\x41 rest\n"], "utf-8", r"not valid utf-8: invalid utf-8 data at byte offset 10", 10),
    ([b"hello\n", b"\xff world\n"], "utf-8", r"invalid utf-8 data at byte offset 6: invalid start byte", 6),
    ([b"cut at the end \xe6\x9d"], "utf-8", r"byte offset 15: unexpected end of data", 15),
    ([b"\xef\xbb\xbfa\n", b"\xc0"], None, r"byte offset 5: invalid start byte", 5),
]


def test_invalid_text_breaks_the_stream_with_the_byte_offset(run: Run) -> None:
    async def consume(text: TextStream, message: str, offset: int) -> list[str]:
        lines: list[str] = []
        with pytest.raises(StreamBroken, match=message) as caught:
            async for line in text:
                lines.append(line)
        cause = caught.value.__cause__
        assert isinstance(cause, InvalidTextError) and cause.offset == offset
        with pytest.raises(StreamBroken, match="byte offset"):
            await text.readline()
        with pytest.raises(StreamBroken):
            await text.read(1)
        return lines

    for chunks, encoding, message, offset in INVALID_TEXT_CASES:
        run(with_sender(chunks, lambda text: consume(text, message, offset), encoding=encoding))


def test_line_too_long_is_a_named_limit_after_the_lines_before_it(run: Run) -> None:
    data = b"short\nalso short\n" + b"x" * 100 + b"\nnever reached\n"

    async def consume(text: TextStream) -> list[str]:
        lines: list[str] = []
        with pytest.raises(StreamLimitExceeded, match=r"line 3 exceeds max_line_length=50: 10[01] characters") as caught:
            async for line in text:
                lines.append(line)
        assert caught.value.limit_name == "max_line_length" and caught.value.limit == 50
        assert isinstance(caught.value.__cause__, LineTooLongError)
        with pytest.raises(StreamBroken, match="an earlier line was too long"):
            await text.readline()
        return lines

    assert run(with_sender([data], consume, max_line_length=50)) == ["short\n", "also short\n"]


def test_endless_line_is_stopped_without_buffering_it(run: Run) -> None:
    async def consume(text: TextStream) -> None:
        with pytest.raises(StreamLimitExceeded, match="no line end yet"):
            await text.readline()

    run(with_sender([b"y" * 4096] * 8, consume, max_line_length=1000, read_size=4096))


@functools.cache
def compressed_once(unit: bytes, count: int) -> bytes:
    return gzip.compress(unit * count, compresslevel=9)


def test_gzip_bomb_through_decompress_and_text_stops_at_the_limit(run: Run) -> None:
    bomb = compressed_once(b"a", 16 * 1024 * 1024)  # one endless line, 16 KiB gzipped

    async def scenario() -> None:
        left, right = memory_stream_pair(max_buffer=len(bomb) + 1)
        await left.send_all(bomb)
        await left.aclose()
        async with TextStream(DecompressStream(right, "gzip", max_output=4 * 1024 * 1024, max_ratio=None), max_line_length=None) as text:
            with pytest.raises(StreamLimitExceeded, match="max_output") as caught:
                await text.readline()
            assert caught.value.limit_name == "max_output"
            with pytest.raises(StreamBroken):
                await text.readline()

    run(scenario())


def test_gzip_bomb_of_many_lines_stops_at_the_ratio_limit(run: Run) -> None:
    bomb = compressed_once(b"line\n", 10 * 1024 * 1024)

    async def scenario() -> int:
        left, right = memory_stream_pair(max_buffer=len(bomb) + 1)
        await left.send_all(bomb)
        await left.aclose()
        count = 0
        async with TextStream(DecompressStream(right, "gzip", max_ratio=100)) as text:
            with pytest.raises(StreamLimitExceeded, match="max_ratio"):
                async for _line in text:
                    count += 1
        return count

    assert run(scenario()) < 10 * 1024 * 1024


def test_truncated_gzip_is_an_error_not_a_short_read(run: Run) -> None:
    payload = gzip.compress(b"".join(b"line %d\n" % i for i in range(1000)))[:-6]

    async def scenario() -> list[str]:
        left, right = memory_stream_pair(max_buffer=len(payload) + 1)
        await left.send_all(payload)
        await left.aclose()
        lines: list[str] = []
        async with TextStream(DecompressStream(right, "gzip")) as text:
            with pytest.raises(StreamBroken, match="invalid") as caught:
                async for line in text:
                    lines.append(line)
            assert caught.value.__cause__ is not None
        return lines

    assert len(run(scenario())) <= 1000


def test_unknown_encoding_and_bad_arguments_are_refused_up_front() -> None:
    left, right = memory_stream_pair()
    with pytest.raises(UnknownEncodingError, match="unknown encoding 'klingon'"):
        TextStream(right, "klingon")
    with pytest.raises(ValueError, match="illegal newline value"):
        TextStream(right, newline="\t")
    with pytest.raises(ValueError, match="read_size must be positive"):
        TextStream(right, read_size=0)


# -- the stream contract ----------------------------------------------------------------


def test_two_readers_at_once_is_busy(run: Run) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        async with TextStream(right) as text:
            first = asyncio.ensure_future(text.readline())
            await asyncio.sleep(0)
            with pytest.raises(StreamBusy):
                await text.readline()
            with pytest.raises(StreamBusy):
                await text.read(1)
            await left.send_all(b"one\n")
            assert await first == "one\n"
        await left.aclose()

    run(scenario())


def test_use_after_close_and_close_while_reading(run: Run) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        text = TextStream(right)
        reading = asyncio.ensure_future(text.readline())
        await asyncio.sleep(0)
        await text.aclose()
        with pytest.raises(StreamClosed):
            await reading
        for operation in (text.readline(), text.read(1), text.readlines()):
            with pytest.raises(StreamClosed):
                await operation
        await text.aclose()  # idempotent
        await left.aclose()

    run(scenario())


def test_cancelled_reads_lose_nothing(run: Run) -> None:
    lines = [f"line {i} ✓\n" for i in range(300)]
    data = "".join(lines).encode()

    async def scenario(point: int, method: str) -> list[str]:
        left, right = memory_stream_pair()
        sending = asyncio.ensure_future(feed(left, pieces(data, point, 50)))
        received: list[str] = []
        async with TextStream(right, read_size=64) as text:
            if method == "readline":
                task = asyncio.ensure_future(_collect_lines(text, received))
            else:
                task = asyncio.ensure_future(_collect_chars(text, received))
            for _ in range(point):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await _collect_lines(text, received)
        await sending
        return received

    for point in range(0, 60, 3):
        assert "".join(run(scenario(point, "readline"))) == data.decode()
        assert "".join(run(scenario(point, "read"))) == data.decode()


async def _collect_lines(text: TextStream, sink: list[str]) -> None:
    while line := await text.readline():
        sink.append(line)


async def _collect_chars(text: TextStream, sink: list[str]) -> None:
    while chunk := await text.read(7):
        sink.append(chunk)


def test_reading_never_starves_the_loop(run: Run) -> None:
    """A source whose receives never wait must not stop timers from firing."""

    class Instant(ReceiveStream):
        def __init__(self, total: int) -> None:
            self.left = total

        async def receive_into(self, buffer: bytearray | memoryview) -> int:
            count = min(len(buffer), self.left)
            buffer[:count] = b"x" * (count - 1) + b"\n" if count else b""
            self.left -= count
            return count

        async def aclose(self) -> None:
            pass

    async def scenario() -> tuple[int, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        count = 0
        async with TextStream(Instant(8 * 1024 * 1024), read_size=65536) as text:
            async for _line in text:
                count += 1
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
        return count, ticks

    count, ticks = run(scenario())
    assert count == 128
    assert ticks >= 100  # one chance to run per 64 KiB chunk at least


# -- writing ------------------------------------------------------------------------------


async def written_bytes(write: Callable[[TextStream], Awaitable[None]], **options: Any) -> bytes:
    left, right = memory_stream_pair(max_buffer=1 << 20)
    text = TextStream(left, **options)
    await write(text)
    await text.aclose()
    received = bytearray()
    while chunk := await right.receive_some():
        received += chunk
    await right.aclose()
    return bytes(received)


WRITE_CASES: list[tuple[dict[str, Any], bytes]] = [
    ({}, "a\nb\r\nc".encode()),
    ({"newline": "\r\n"}, b"a\r\nb\r\r\nc"),
    ({"newline": "\r"}, b"a\rb\r\rc"),
    ({"newline": ""}, b"a\nb\r\nc"),
    ({"encoding": "utf-16"}, "a\nb\r\nc".encode("utf-16")),
    ({"encoding": "latin-1"}, b"a\nb\r\nc"),
]


def test_write_translates_newlines_and_encodes(run: Run) -> None:
    async def write(text: TextStream) -> None:
        await text.write("a\nb")
        await text.write("\r\nc")

    for options, expected in WRITE_CASES:
        assert run(written_bytes(write, **options)) == expected, options


def test_write_buffers_until_flush_and_send_eof(run: Run) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        text = TextStream(left, write_buffer_size=10)
        await text.write("abc")
        await text.flush()
        assert await right.receive_some() == b"abc"
        await text.write("0123456789")  # fills the buffer: sent at once
        assert await right.receive_some() == b"0123456789"
        await text.write("tail")
        await text.send_eof()
        await text.send_eof()  # idempotent
        assert await right.receive_some() == b"tail"
        assert await right.receive_some() == b""
        with pytest.raises(StreamClosed, match="send_eof"):
            await text.write("more")
        await text.aclose()
        await right.aclose()

    run(scenario())


def test_unencodable_text_raises_and_writes_nothing(run: Run) -> None:
    async def write(text: TextStream) -> None:
        await text.write("ok ")
        with pytest.raises(UnicodeEncodeError):
            await text.write("東京")
        await text.write("still ok")

    assert run(written_bytes(write, encoding="ascii")) == b"ok still ok"


def test_text_round_trip_over_tcp_both_directions(run: Run) -> None:
    async def scenario() -> list[str]:
        client, server = await tcp_pair()
        async with TextStream(client) as client_text, TextStream(server) as server_text:
            await client_text.write("ping ✓\n")
            await client_text.flush()
            line = await server_text.readline()
            await server_text.write(line.upper())
            await server_text.send_eof()
            return [line, await client_text.readline(), await client_text.readline()]

    assert run(scenario()) == ["ping ✓\n", "PING ✓\n", ""]


def test_direction_misuse_is_a_type_error(run: Run) -> None:
    async def scenario() -> None:
        left, right = memory_stream_pair()
        receive_only = TextStream(DecompressStream(right, "gzip"))
        send_only = TextStream(CompressStream(left, "gzip"))
        with pytest.raises(TypeError, match="receive-only"):
            await receive_only.write("x")
        with pytest.raises(TypeError, match="send-only"):
            await send_only.readline()
        await receive_only.aclose()
        await send_only.aclose()

    run(scenario())


# -- property: any mix of reads over any chunking equals io.TextIOWrapper ----------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_STEPS = st.one_of(st.just("line"), st.just("lines"), st.integers(min_value=0, max_value=9))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.text(alphabet=st.sampled_from(list("ab\r\n é😀")), max_size=40),
    newline=st.sampled_from([None, "", "\n", "\r", "\r\n"]),
    plan=st.lists(_STEPS, max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=6), max_size=30),
)
def test_any_mix_of_reads_matches_textiowrapper(text: str, newline: str | None, plan: list[Any], cuts: list[int]) -> None:
    import tidal.loop

    data = text.encode()
    chunks, offset = [], 0
    for size in [*cuts, len(data)]:
        if offset < len(data):
            chunks.append(data[offset : offset + size])
            offset += size
    steps = [*plan, -1]

    async def consume(stream: TextStream) -> list[Any]:
        out: list[Any] = []
        for step in steps:
            if step == "line":
                out.append(await stream.readline())
            elif step == "lines":
                out.append(await stream.readlines(3))
            else:
                out.append(await stream.read(step))
        return out

    wrapper = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=newline)
    expected: list[Any] = []
    for step in steps:
        if step == "line":
            expected.append(wrapper.readline())
        elif step == "lines":
            expected.append(wrapper.readlines(3))
        else:
            expected.append(wrapper.read(step))
    with asyncio.Runner(loop_factory=tidal.loop.new_event_loop) as runner:
        assert runner.run(with_sender(chunks, consume, encoding="utf-8", newline=newline, read_size=3)) == expected
