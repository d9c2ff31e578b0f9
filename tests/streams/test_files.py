"""tidal.open and FileStream: round trips for every mode and compression, errors, no blocking.

Files written by tidal are read back with the stdlib (and the other way
round), so a file is what every other tool expects.  Tests run on three
loops; besides the fd check of the ``loop`` fixture, a test must leave no
worker thread or task behind.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

import tidal
from tidal.streams._decompress_process import ProcessDecompressStream
from tidal.protocols.compression import DecompressionLimitError, TrailingDataError, inflate_backend
from tidal.streams import (
    CompressStream,
    DecompressStream,
    FileStream,
    StreamBroken,
    StreamBusy,
    StreamClosed,
    StreamLimitExceeded,
    TextStream,
)

Run = Callable[..., Any]
TEXT = "".join(f"{i:05d} GET /naïve/café 東京 ✓\n" for i in range(4000))
COMPRESSIONS = [None, "gzip", "deflate", "zlib", "br", "zstd"]


def stdlib_decompress(data: bytes, compression: str | None) -> bytes:
    if compression is None:
        return data
    if compression == "gzip":
        return gzip.decompress(data)
    if compression in ("deflate", "zlib"):
        return zlib.decompress(data)
    if compression == "br":
        return bytes(brotli.decompress(data))
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def stdlib_compress(data: bytes, compression: str | None) -> bytes:
    if compression is None:
        return data
    if compression == "gzip":
        return gzip.compress(data)
    if compression in ("deflate", "zlib"):
        return zlib.compress(data)
    if compression == "br":
        return bytes(brotli.compress(data, quality=5))
    return zstandard.ZstdCompressor().compress(data)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Set up before (so torn down after) the loop fixture, which joins the executor."""
    before = set(threading.enumerate())
    yield
    leaked = [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


def no_other_tasks() -> None:
    current = asyncio.current_task()
    assert [task for task in asyncio.all_tasks() if task is not current] == []


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_binary_round_trip_and_stdlib_agreement(run: Run, tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "data.bin"
    payload = TEXT.encode() * 3

    async def scenario() -> bytes:
        async with tidal.open(path, "wb", compression=compression) as sink:
            for offset in range(0, len(payload), 10000):
                await sink.send_all(payload[offset : offset + 10000])
        received = bytearray()
        async with tidal.open(path, "rb", compression=compression) as source:
            async for chunk in source:
                received += chunk
        no_other_tasks()
        return bytes(received)

    assert run(scenario()) == payload
    assert stdlib_decompress(path.read_bytes(), compression) == payload


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_text_round_trip_and_stdlib_agreement(run: Run, tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "data.txt"

    async def scenario() -> list[str]:
        async with tidal.open(path, "wt", compression=compression) as sink:
            for line in TEXT.splitlines(True)[:2000]:
                await sink.write(line)
            await sink.write("".join(TEXT.splitlines(True)[2000:]))
        lines = [line async for line in tidal.open(path, "rt", compression=compression)]
        no_other_tasks()
        return lines

    assert run(scenario()) == TEXT.splitlines(True)
    assert stdlib_decompress(path.read_bytes(), compression).decode() == TEXT


@pytest.mark.parametrize("compression", ["gzip", "zlib", "br", "zstd"])
def test_reads_files_the_stdlib_wrote(run: Run, tmp_path: Path, compression: str) -> None:
    path = tmp_path / "from-stdlib"
    path.write_bytes(stdlib_compress(TEXT.encode("utf-16"), compression))

    async def scenario() -> tuple[str, str | None]:
        async with tidal.open(path, "rt", compression=compression) as text:
            return await text.read(), text.encoding

    assert run(scenario()) == (TEXT, "utf-16-le")


def test_gzip_text_file_is_what_gzip_open_reads(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "app.log.gz"

    async def scenario() -> None:
        async with tidal.open(path, "wt", compression="gzip", encoding="latin-1", newline="\r\n") as sink:
            await sink.write("première ligne\nseconde\n")

    run(scenario())
    with gzip.open(path, "rt", encoding="latin-1", newline="") as text:
        assert text.read() == "première ligne\r\nseconde\r\n"


def test_append_makes_a_multi_member_gzip_file(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "rotating.log.gz"

    async def scenario() -> list[str]:
        for part in ("first\n", "second\n", "third\n"):
            async with tidal.open(path, "at", compression="gzip") as sink:
                await sink.write(part)
        return [line async for line in tidal.open(path, "rt", compression="gzip")]

    assert run(scenario()) == ["first\n", "second\n", "third\n"]
    with gzip.open(path, "rt") as text:
        assert text.read() == "first\nsecond\nthird\n"


def test_writing_nothing_still_creates_or_truncates_the_file(run: Run, tmp_path: Path) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("old contents")

    async def scenario() -> None:
        async with tidal.open(tmp_path / "empty.txt", "wt"):
            pass
        await tidal.open(existing, "wb").aclose()
        async with tidal.open(tmp_path / "empty.gz", "wt", compression="gzip"):
            pass
        with pytest.raises(FileNotFoundError):
            await tidal.open(tmp_path / "no-such-dir" / "f", "wt").aclose()

    run(scenario())
    assert (tmp_path / "empty.txt").read_bytes() == b""
    assert existing.read_bytes() == b""
    assert gzip.decompress((tmp_path / "empty.gz").read_bytes()) == b""


def test_modes_return_the_stream_types(run: Run, tmp_path: Path) -> None:
    auto_gzip_type = DecompressStream if inflate_backend() == "zlib-ng" else ProcessDecompressStream
    path = tmp_path / "f"
    path.write_bytes(gzip.compress(b"x\n"))

    async def scenario() -> None:
        cases: list[tuple[Any, type, type | None]] = [
            (tidal.open(path, "rb"), FileStream, None),
            (tidal.open(path, "rb", compression="gzip", decompress_in="loop"), DecompressStream, None),
            (tidal.open(path, "rb", compression="zlib"), DecompressStream, None),
            # auto: with zlib-ng, on the loop; with zlib, the child decides when opened
            (tidal.open(path, "rb", compression="gzip"), auto_gzip_type, None),
            (tidal.open(path, "rt"), TextStream, FileStream),
            (tidal.open(path, "r", compression="gzip", decompress_in="loop"), TextStream, DecompressStream),
            (tidal.open(path, "r", compression="gzip", decompress_in="process"), TextStream, ProcessDecompressStream),
            (tidal.open(path, "wb", compression="gzip"), CompressStream, None),
            (tidal.open(path, "wt"), TextStream, FileStream),
        ]
        for stream, outer, inner in cases:
            assert isinstance(stream, outer)
            if inner is not None:
                assert isinstance(stream.wrapped_stream, inner)
            await stream.aclose()

    run(scenario())


def test_mixed_text_reads_and_newline_modes(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"one\r\ntwo\rthree\nfour")

    async def scenario() -> list[Any]:
        async with tidal.open(path, "rt") as text:
            universal = [await text.read(2), await text.readline(), await text.readlines()]
        async with tidal.open(path, "rt", newline="") as text:
            untranslated = [line async for line in text]
        return [universal, untranslated]

    assert run(scenario()) == [
        ["on", "e\n", ["two\n", "three\n", "four"]],
        ["one\r\n", "two\r", "three\n", "four"],
    ]


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options", "message"),
    [
        ("r+", {}, "invalid mode 'r+'"),
        ("rwb", {}, "invalid mode 'rwb'"),
        ("rbt", {}, "invalid mode 'rbt'"),
        ("", {}, "invalid mode ''"),
        ("rb", {"compression": "lzma"}, "compression must be None or one of gzip, deflate, zlib, br, zstd, not 'lzma'"),
        ("rb", {"encoding": "utf-8"}, "encoding and newline apply to text modes only"),
        ("wb", {"newline": ""}, "encoding and newline apply to text modes only"),
    ],
)
def test_bad_arguments_are_refused_at_once(tmp_path: Path, mode: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        tidal.open(tmp_path / "x", mode, **options)


def test_opening_errors_are_raised_as_they_are(run: Run, tmp_path: Path) -> None:
    existing = tmp_path / "exists"
    existing.write_bytes(b"")

    async def scenario() -> None:
        with pytest.raises(FileNotFoundError):
            async with tidal.open(tmp_path / "missing", "rb"):
                pass
        with pytest.raises(FileNotFoundError):
            async for _line in tidal.open(tmp_path / "missing", "rt", compression="gzip"):
                pass
        with pytest.raises(FileExistsError):
            async with tidal.open(existing, "xb") as sink:
                await sink.send_all(b"x")
        with pytest.raises(IsADirectoryError):
            async with tidal.open(tmp_path, "rt") as text:
                await text.read()
        no_other_tasks()

    run(scenario())


def test_truncated_gzip_file_is_an_error(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "cut.log.gz"
    path.write_bytes(gzip.compress(TEXT.encode())[:-4])

    async def scenario() -> int:
        count = 0
        async with tidal.open(path, "rt", compression="gzip") as text:
            with pytest.raises(StreamBroken, match="invalid"):
                async for _line in text:
                    count += 1
        return count

    assert run(scenario()) == TEXT.count("\n")  # every line arrived; the missing trailer is still an error


def test_invalid_utf8_in_a_file_names_the_byte_offset(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a" * 300_000 + b"\xff\n")

    async def scenario() -> None:
        async with tidal.open(path, "rt", max_line_length=None) as text:
            with pytest.raises(StreamBroken, match="invalid utf-8 data at byte offset 300000: invalid start byte"):
                await text.read()

    run(scenario())


def test_decompression_limits_apply_to_files(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(bytes(8 * 1024 * 1024)))

    async def scenario() -> None:
        async with tidal.open(path, "rb", compression="gzip", max_output=1024 * 1024) as source:
            with pytest.raises(StreamLimitExceeded, match="max_output"):
                async for _chunk in source:
                    pass

    run(scenario())


def test_direction_misuse(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")

    async def scenario() -> None:
        async with FileStream(path, "rb") as reader, FileStream(tmp_path / "g", "wb") as writer:
            with pytest.raises(io.UnsupportedOperation, match="opened for reading"):
                await reader.send_all(b"x")
            with pytest.raises(io.UnsupportedOperation, match="opened for writing"):
                await writer.receive_some()
        with pytest.raises(ValueError, match="FileStream mode must be"):
            FileStream(path, "rt")

    run(scenario())


# -- the stream contract ----------------------------------------------------------------


def test_receive_contract_eof_busy_closed(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f"
    payload = os.urandom(300_000)
    path.write_bytes(payload)

    async def scenario() -> None:
        stream = FileStream(path, "rb", read_size=65536)
        first = asyncio.ensure_future(stream.receive_some(10))  # waits for the worker thread
        second = asyncio.ensure_future(stream.receive_some(10))
        results = await asyncio.gather(first, second, return_exceptions=True)
        assert isinstance(results[1], StreamBusy)
        assert isinstance(results[0], bytes)
        received = bytearray(results[0])
        buffer = bytearray(1000)
        count = await stream.receive_into(buffer)
        received += buffer[:count]
        while chunk := await stream.receive_some():
            received += chunk
        assert bytes(received) == payload
        assert await stream.receive_some() == b"" and await stream.receive_into(buffer) == 0
        await stream.aclose()
        with pytest.raises(StreamClosed):
            await stream.receive_some()
        await stream.aclose()

    run(scenario())


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_cancelled_receives_lose_nothing(run: Run, tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "f"
    payload = os.urandom(200_000)
    path.write_bytes(stdlib_compress(payload, compression))

    async def scenario(point: int) -> bytes:
        received = bytearray()

        async def receive_all(stream: FileStream) -> None:
            while chunk := await stream.receive_some(5000):
                received.extend(chunk)

        async with FileStream(path, "rb", read_size=16384, compression=compression) as stream:
            task = asyncio.ensure_future(receive_all(stream))
            for _ in range(point):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await receive_all(stream)
        return bytes(received)

    for point in range(0, 40, 4):
        assert run(scenario(point)) == payload


def test_cancelled_send_is_written_exactly_once(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "out"
    pieces = [bytes([n]) * 100_000 for n in range(5)]

    async def scenario(point: int) -> int:
        completed = 0
        async with FileStream(path, "wb") as sink:

            async def send() -> None:
                nonlocal completed
                for piece in pieces:
                    await sink.send_all(piece)
                    completed += 1

            task = asyncio.ensure_future(send())
            for _ in range(point):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await sink.send_all(b"<tail>")
        return completed

    for point in (0, 1, 3, 6, 10):
        completed = run(scenario(point))
        written = path.read_bytes()
        before = b"".join(pieces[:completed])
        assert written in (before + b"<tail>", before + pieces[min(completed, 4)] + b"<tail>")


def test_iterating_to_the_end_releases_the_descriptor(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(gzip.compress(TEXT.encode()))

    async def scenario() -> int:
        lines = 0
        async for _line in tidal.open(path, "rt", compression="gzip"):
            lines += 1
        return lines

    assert run(scenario()) == TEXT.count("\n")  # the loop fixture checks that no fd is left open


def test_closing_early_while_a_read_is_in_flight(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(2_000_000))

    async def scenario() -> None:
        async with tidal.open(path, "rb") as source:
            assert await source.receive_some(10)
        # the read ahead was in flight; aclose waited for it before closing
        source = tidal.open(path, "rb")
        reading = asyncio.ensure_future(source.receive_some())
        await asyncio.sleep(0)
        await source.aclose()
        result = await asyncio.gather(reading, return_exceptions=True)
        assert isinstance(result[0], (StreamClosed, bytes))

    run(scenario())


# -- not blocking the loop ------------------------------------------------------------------


def test_loop_stays_responsive_while_reading_a_large_gzip_file(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "big.log.gz"
    line = "2024-05-01T00:00:00Z INFO GET /api/v1/orders 200 ms=12.5 user=alice café\n"
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write(line * 250_000)  # about 19 MB of text

    async def scenario() -> tuple[int, int, float, float]:
        ticks = 0
        worst = 0.0

        async def timer() -> None:
            nonlocal ticks, worst
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.005)
                worst = max(worst, time.perf_counter() - started)
                ticks += 1

        ticking = asyncio.ensure_future(timer())
        await asyncio.sleep(0)
        count = 0
        reading_started = time.perf_counter()
        async for _line in tidal.open(path, "rt", compression="gzip"):
            count += 1
        reading = time.perf_counter() - reading_started
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        return count, ticks, worst, reading

    count, ticks, worst, reading = run(scenario())
    assert count == 250_000
    # Without the stream yielding, the timer could not fire until the read ends:
    # it must have fired at least once per 50 ms of reading (every 5 ms if idle).
    assert ticks >= max(2, int(reading / 0.05)), f"{ticks} ticks of a 5 ms timer in {reading * 1000:.0f} ms"
    assert worst < 0.5, f"the 5 ms timer was held up for {worst * 1000:.0f} ms"


# -- the public surface -------------------------------------------------------------------


def test_open_is_exported_lazily_from_the_top_level() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tidal\n"
        "assert 'tidal.streams' not in sys.modules\n"
        "assert 'open' in tidal.__all__ and 'open' in dir(tidal)\n"
        "import tidal.streams\n"
        "assert tidal.open is tidal.streams.open\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_stream_names_are_exported() -> None:
    import tidal.streams

    for name in ("TextStream", "FileStream", "ProcessDecompressStream", "open"):
        assert name in tidal.streams.__all__
        assert getattr(tidal.streams, name).__doc__


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("mode", ["r", "rt", "rb"])
def test_a_missing_file_fails_at_async_with_in_every_read_mode(
    run: Run, tmp_path: Path, mode: str, compression: str | None
) -> None:
    async def scenario() -> None:
        entered = False
        with pytest.raises(FileNotFoundError) as caught:
            async with tidal.open(tmp_path / "missing", mode, compression=compression):
                entered = True
        assert not entered  # raised by the `async with` line, not by a first read
        assert type(caught.value) is FileNotFoundError
        no_other_tasks()

    run(scenario())


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_opening_for_writing_fails_at_async_with_in_text_modes(run: Run, tmp_path: Path, compression: str | None) -> None:
    existing = tmp_path / "exists.txt"
    existing.write_text("keep me")

    async def scenario() -> None:
        with pytest.raises(FileNotFoundError):
            async with tidal.open(tmp_path / "no-such-dir" / "f.txt", "wt", compression=compression):
                raise AssertionError("entered")
        with pytest.raises(FileExistsError):
            async with tidal.open(existing, "xt", compression=compression):
                raise AssertionError("entered")

    run(scenario())
    assert existing.read_text() == "keep me"


# -- FileStream(compression=...): decompression in the worker thread ------------------------


def test_file_bomb_stops_at_exactly_max_output_and_stays_broken(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(bytes(16 * 1024 * 1024)))

    async def scenario() -> int:
        received = 0
        async with FileStream(path, "rb", compression="gzip", max_output=1_000_000) as source:
            with pytest.raises(StreamLimitExceeded, match="max_output=1000000") as caught:
                while chunk := await source.receive_some():
                    received += len(chunk)
            assert caught.value.limit_name == "max_output"
            assert isinstance(caught.value.__cause__, DecompressionLimitError)
            with pytest.raises(StreamBroken, match="max_output"):
                await source.receive_some()
        return received

    assert run(scenario()) == 1_000_000


def test_file_bomb_stopped_by_the_ratio_limit(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(bytes(32 * 1024 * 1024)))

    async def scenario() -> None:
        async with TextStream(FileStream(path, "rb", compression="gzip", max_ratio=100)) as text:
            with pytest.raises(StreamLimitExceeded, match="max_ratio=100") as caught:
                await text.read()
            assert caught.value.limit_name == "max_ratio"

    run(scenario())


@pytest.mark.parametrize("in_worker", [False, True], ids=["tidal.open", "decompressing-in-the-worker"])
def test_lines_before_trailing_garbage_arrive_then_the_error(run: Run, tmp_path: Path, in_worker: bool) -> None:
    path = tmp_path / "garbage.log.gz"
    path.write_bytes(gzip.compress(TEXT.encode()) + b"<html>")

    async def scenario() -> list[str]:
        lines: list[str] = []
        if in_worker:
            opened = TextStream(FileStream(path, "rb", compression="gzip"))
        else:
            opened = tidal.open(path, "rt", compression="gzip")
        async with opened as text:
            with pytest.raises(StreamBroken, match="trailing garbage after gzip member 1") as caught:
                async for line in text:
                    lines.append(line)
            assert isinstance(caught.value.__cause__, TrailingDataError)
        return lines

    assert run(scenario()) == TEXT.splitlines(True)


def test_reads_without_output_are_retried_until_output_or_the_end(run: Run, tmp_path: Path) -> None:
    # Zero padding after a member decodes to nothing for many reads in a row.
    path = tmp_path / "padded.gz"
    path.write_bytes(gzip.compress(b"first\n") + bytes(300_000))
    second = tmp_path / "late.gz"
    second.write_bytes(gzip_member_with_long_name(b"late\n", 50_000))

    async def scenario() -> tuple[bytes, bytes]:
        out = []
        for name in (path, second):
            async with FileStream(name, "rb", read_size=4096, compression="gzip") as source:
                out.append(b"".join([chunk async for chunk in source]))
        return out[0], out[1]

    assert run(scenario()) == (b"first\n", b"late\n")


def gzip_member_with_long_name(data: bytes, name_length: int) -> bytes:
    """A gzip member whose FNAME field spans many reads before any output."""
    header = b"\x1f\x8b\x08\x08" + bytes(6) + b"n" * name_length + b"\0"
    compressor = zlib.compressobj(wbits=-15)
    body = compressor.compress(data) + compressor.flush()
    return header + body + zlib.crc32(data).to_bytes(4, "little") + len(data).to_bytes(4, "little")


def test_file_stream_decompresses_only_when_reading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compression= is for reading"):
        FileStream(tmp_path / "f", "wb", compression="gzip")
