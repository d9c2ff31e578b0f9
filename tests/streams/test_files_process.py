"""Gzip files inflated by a ``gzip -dc`` child process: the same bytes and errors as on the loop.

Every case reads the same file both ways -- ``decompress_in="loop"`` (the
in-process engine) and ``decompress_in="process"`` (the child) -- and
compares what arrived and what was raised.  Tests run on tidal's loop,
asyncio's and uvloop; the ``loop`` fixture fails a test that leaves a
descriptor open, and each test that starts a child checks that it was reaped.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import random
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tidal
from tests.peers import require_binary
from tidal.protocols.compression import (
    ChecksumError,
    CorruptStreamError,
    DecompressionLimitError,
    TrailingDataError,
    TruncatedStreamError,
    inflate_backend,
    set_inflate_backend,
)
from tidal.streams import DecompressStream, ReceiveStream, StreamBroken, StreamBusy, StreamClosed, StreamLimitExceeded, TextStream
from tidal.streams import _decompress_process
from tidal.streams._decompress_process import ProcessDecompressStream, child_failure

Run = Callable[..., Any]
TEXT = "".join(f"{i:06d} GET /naïve/café 東京 ✓ status=200\n" for i in range(20_000)).encode()
GZIPPED_TEXT = gzip.compress(TEXT)


@pytest.fixture
def stdlib_inflate() -> Iterator[None]:
    """The loop inflates with the standard zlib, as without tidal[speedups]."""
    before = inflate_backend()
    set_inflate_backend("zlib")
    try:
        yield
    finally:
        set_inflate_backend(before)


@pytest.fixture(autouse=True)
def gzip_binary() -> str:
    """Every test here needs the gzip program."""
    return require_binary("gzip")


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 MiB of zeros in about 32 KiB of gzip, written once for the module."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.gz"
    path.write_bytes(gzip.compress(bytes(32 * 1024 * 1024)))
    return path


def assert_reaped(pid: int | None) -> None:
    """The child is gone: exited and waited for (a zombie would still accept signal 0)."""
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def read_all(stream: ReceiveStream) -> tuple[bytes, BaseException | None]:
    """Everything the stream hands out, and the error that ended it (None at a clean EOF)."""
    received = bytearray()
    try:
        async with stream:
            while chunk := await stream.receive_some():
                received += chunk
    except Exception as error:  # compared between the two paths by the caller
        return bytes(received), error
    return bytes(received), None


async def both_ways(path: Path, **options: Any) -> tuple[tuple[bytes, BaseException | None], ...]:
    results = []
    for where in ("loop", "process"):
        results.append(await read_all(tidal.open(path, "rb", compression="gzip", decompress_in=where, **options)))
    return tuple(results)


def deflate_member(data: bytes) -> bytes:
    """A gzip member built by hand (no FNAME), so tests can damage precise bytes."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff"
    return header + body + zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    damaged = bytearray(data)
    damaged[index] ^= mask
    return bytes(damaged)


# -- the same bytes ------------------------------------------------------------------------

GOOD_FILES: dict[str, Callable[[], bytes]] = {
    "text": lambda: GZIPPED_TEXT,
    "multi-member": lambda: gzip.compress(TEXT[:70_000]) + deflate_member(TEXT[70_000:]) + gzip.compress(b"last\n"),
    "empty-file": lambda: b"",
    "empty-member": lambda: gzip.compress(b""),
    "binary": lambda: gzip.compress(random.Random(7).randbytes(600_000), compresslevel=1),
    "zero-padding": lambda: gzip.compress(TEXT) + bytes(5000),
    "bomb-sized": lambda: gzip.compress(bytes(6 * 1024 * 1024)),  # past the pipe's high-water mark
}


@pytest.mark.parametrize("name", GOOD_FILES)
def test_the_child_hands_out_the_same_bytes(run: Run, tmp_path: Path, name: str) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(GOOD_FILES[name]())

    (on_loop, loop_error), (in_child, child_error) = run(both_ways(path))
    assert loop_error is None and child_error is None
    assert in_child == on_loop == gzip.decompress(path.read_bytes())


def test_text_lines_are_the_same(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.log.gz"
    path.write_bytes(gzip.compress(TEXT) + gzip.compress(b"no newline at the end"))

    async def scenario() -> tuple[list[str], list[str]]:
        lines = []
        for where in ("loop", "process"):
            lines.append([line async for line in tidal.open(path, "rt", compression="gzip", decompress_in=where)])
        return lines[0], lines[1]

    on_loop, in_child = run(scenario())
    assert in_child == on_loop
    assert "".join(in_child).encode() == TEXT + b"no newline at the end"


def test_receive_into_and_small_receives(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(GZIPPED_TEXT)

    async def scenario() -> bytes:
        received = bytearray()
        buffer = bytearray(777)
        async with ProcessDecompressStream(path) as stream:
            while count := await stream.receive_into(buffer):
                received += buffer[:count]
                if chunk := await stream.receive_some(5):
                    received += chunk
            assert await stream.receive_some() == b"" and await stream.receive_into(buffer) == 0
        return bytes(received)

    assert run(scenario()) == TEXT


# -- the same errors -----------------------------------------------------------------------

MEMBER = deflate_member(TEXT)
BAD_FILES: dict[str, tuple[bytes, type[Exception]]] = {
    "corrupt-deflate": (MEMBER[:10] + b"\xff" + MEMBER[11:], CorruptStreamError),
    "truncated-body": (MEMBER[: len(MEMBER) // 2], TruncatedStreamError),
    "truncated-trailer": (MEMBER[:-3], TruncatedStreamError),
    "truncated-header": (MEMBER[:6], TruncatedStreamError),
    "trailing-garbage": (MEMBER + b"<html>", TrailingDataError),
    "garbage-after-padding": (MEMBER + bytes(100) + b"x", TrailingDataError),
    "bad-crc": (flip(MEMBER, len(MEMBER) - 8), ChecksumError),
    "bad-length": (flip(MEMBER, len(MEMBER) - 2), ChecksumError),
    "bad-second-member": (MEMBER + flip(MEMBER, len(MEMBER) - 8), ChecksumError),
    "not-gzip": (b"plain text, not gzip\n" * 100, CorruptStreamError),
    "compress-format": (b"\x1f\x9d\x90abc", CorruptStreamError),  # gzip(1) would read it
    "reserved-flags": (flip(MEMBER, 3, 0x20), CorruptStreamError),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_fail_the_same_way(run: Run, tmp_path: Path, name: str) -> None:
    data, cause = BAD_FILES[name]
    path = tmp_path / "bad.gz"
    path.write_bytes(data)

    (on_loop, loop_error), (in_child, child_error) = run(both_ways(path))
    for error in (loop_error, child_error):
        assert type(error) is StreamBroken, error
        assert type(error.__cause__) is cause, repr(error.__cause__)
        assert str(error).startswith("the compressed data is invalid: ")
    # What was decoded before the fault arrives first on both paths (gzip(1) writes
    # every complete 32 KiB piece of its window; these faults leave none half-written).
    assert in_child == on_loop


def test_a_failing_child_leaves_other_streams_alone(run: Run, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.gz", tmp_path / "bad.gz"
    good.write_bytes(GZIPPED_TEXT * 2)
    bad.write_bytes(BAD_FILES["corrupt-deflate"][0])

    async def scenario() -> tuple[tuple[bytes, BaseException | None], ...]:
        reads = [read_all(ProcessDecompressStream(path)) for path in (good, bad, good)]
        return tuple(await asyncio.gather(*reads))

    first, failed, second = run(scenario())
    assert first == second == (TEXT * 2, None)
    assert type(failed[1]) is StreamBroken and type(failed[1].__cause__) is CorruptStreamError


def test_a_broken_stream_stays_broken(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(MEMBER + b"<html>")

    async def scenario() -> None:
        async with ProcessDecompressStream(path) as stream:
            pid = stream.get_extra_info("pid")
            with pytest.raises(StreamBroken, match="trailing garbage"):
                while await stream.receive_some():
                    pass
            assert_reaped(pid)
            with pytest.raises(StreamBroken, match="trailing garbage"):
                await stream.receive_some()

    run(scenario())


@pytest.mark.parametrize("where", ["loop", "process", "auto"])
def test_opening_errors_are_raised_as_they_are(run: Run, tmp_path: Path, where: str) -> None:
    async def scenario() -> None:
        with pytest.raises(FileNotFoundError):
            async with tidal.open(tmp_path / "missing.gz", "rt", compression="gzip", decompress_in=where):
                raise AssertionError("entered")
        with pytest.raises(FileNotFoundError):
            async for _line in tidal.open(tmp_path / "missing.gz", "rt", compression="gzip", decompress_in=where):
                pass
        with pytest.raises(IsADirectoryError):
            async with tidal.open(tmp_path, "rb", compression="gzip", decompress_in=where):
                raise AssertionError("entered")

    run(scenario())


# Run as root without the capabilities that override file permissions.
_UNPRIVILEGED_OPEN = """
import sys
sys.path.insert(0, sys.argv[1])
import tidal
from tests.loop_harness import make_loop

async def main():
    try:
        async with tidal.open(sys.argv[2], "rb", compression="gzip", decompress_in=sys.argv[3]):
            print("entered")
    except PermissionError:
        print("PermissionError")

loop = make_loop(sys.argv[4])
try:
    loop.run_until_complete(main())
finally:
    loop.close()
"""


@pytest.mark.parametrize("where", ["loop", "process"])
def test_an_unreadable_file_raises_permission_error(run: Run, loop_kind: str, tmp_path: Path, where: str) -> None:
    path = tmp_path / "secret.gz"
    path.write_bytes(gzip.compress(b"x"))
    path.chmod(0)
    if os.geteuid() == 0:
        # Root reads any file; its child without CAP_DAC_OVERRIDE and
        # CAP_DAC_READ_SEARCH (setpriv, util-linux) is refused like anyone else.
        setpriv = require_binary("setpriv")
        repository = str(Path(__file__).resolve().parents[2])
        done = subprocess.run(
            [setpriv, "--bounding-set", "-dac_override,-dac_read_search", sys.executable, "-c",
             _UNPRIVILEGED_OPEN, repository, str(path), where, loop_kind],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "PermissionError", done.stdout + done.stderr
        return

    async def scenario() -> None:
        with pytest.raises(PermissionError):
            async with tidal.open(path, "rb", compression="gzip", decompress_in=where):
                raise AssertionError("entered")

    run(scenario())


def test_a_missing_file_can_be_retried(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "late.gz"

    async def scenario() -> bytes:
        stream = ProcessDecompressStream(path)
        with pytest.raises(FileNotFoundError):
            await stream.receive_some()
        path.write_bytes(gzip.compress(b"here now\n"))
        data, error = await read_all(stream)
        assert error is None
        return data

    assert run(scenario()) == b"here now\n"


@pytest.mark.usefixtures("stdlib_inflate")
def test_only_regular_files_go_to_a_child(run: Run) -> None:
    async def scenario() -> None:
        with pytest.raises(io.UnsupportedOperation, match="not a regular file"):
            async with tidal.open(os.devnull, "rb", compression="gzip", decompress_in="process"):
                raise AssertionError("entered")
        stream = tidal.open(os.devnull, "rb", compression="gzip")  # auto: decoded on the loop
        assert isinstance(stream, ProcessDecompressStream)
        assert await read_all(stream) == (b"", None)
        assert stream.uses_child_process is False

    run(scenario())


# -- limits ---------------------------------------------------------------------------------


def test_max_output_stops_at_exactly_the_limit_and_kills_the_child(run: Run, bomb: Path) -> None:
    path = bomb

    async def scenario() -> None:
        results = []
        for where in ("loop", "process"):
            stream = tidal.open(path, "rb", compression="gzip", decompress_in=where, max_output=3_000_000)
            received = 0
            async with stream:
                pid = stream.get_extra_info("pid")
                with pytest.raises(StreamLimitExceeded, match="max_output=3000000") as caught:
                    while chunk := await stream.receive_some():
                        received += len(chunk)
                assert caught.value.limit_name == "max_output" and caught.value.limit == 3_000_000
                assert isinstance(caught.value.__cause__, DecompressionLimitError)
                with pytest.raises(StreamBroken, match="max_output"):
                    await stream.receive_some()
                if where == "process":
                    assert_reaped(pid)
            results.append(received)
        assert results == [3_000_000, 3_000_000]

    run(scenario())


def test_output_of_exactly_max_output_bytes_is_allowed(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(GZIPPED_TEXT)

    (on_loop, loop_error), (in_child, child_error) = run(both_ways(path, max_output=len(TEXT)))
    assert loop_error is None and child_error is None and in_child == on_loop == TEXT
    (on_loop, loop_error), (in_child, child_error) = run(both_ways(path, max_output=len(TEXT) - 1))
    assert in_child == on_loop == TEXT[:-1]
    assert type(loop_error) is type(child_error) is StreamLimitExceeded


def test_max_ratio_stops_a_bomb(run: Run, bomb: Path) -> None:
    path = bomb

    async def scenario() -> int:
        received = 0
        async with TextStream(ProcessDecompressStream(path, max_ratio=100)) as text:
            with pytest.raises(StreamLimitExceeded, match="max_ratio=100") as caught:
                while piece := await text.read(1 << 20):
                    received += len(piece)
            assert caught.value.limit_name == "max_ratio"
        return received

    # gzip(1) reads ahead of what it inflated, so the ratio trips later than in
    # the engine, but long before the 32 MiB: within 100 x its input buffer.
    assert run(scenario()) < 16 * 1024 * 1024


def test_an_unread_child_is_held_back_by_the_pipe(run: Run, bomb: Path) -> None:
    path = bomb

    async def scenario() -> int:
        async with ProcessDecompressStream(path) as stream:
            assert await stream.receive_some(1)
            child = stream._child
            assert child is not None
            for _ in range(5000):  # bounded; the child fills the queue up to the high-water mark
                if child.queued >= _decompress_process.PIPE_HIGH_WATER:
                    break
                await asyncio.sleep(0.001)
            held = child.queued
            for _ in range(20):  # reading is paused: nothing more arrives however long we wait
                await asyncio.sleep(0.001)
            assert child.queued == held
            return held

    assert _decompress_process.PIPE_HIGH_WATER <= run(scenario()) <= _decompress_process.PIPE_HIGH_WATER + 256 * 1024


# -- cancelling and closing ------------------------------------------------------------------


def test_a_cancelled_receive_loses_nothing(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    payload = random.Random(3).randbytes(2_000_000)
    path.write_bytes(gzip.compress(payload, compresslevel=1))

    async def scenario(point: int) -> bytes:
        received = bytearray()

        async def receive_all(stream: ReceiveStream) -> None:
            while chunk := await stream.receive_some(50_000):
                received.extend(chunk)

        async with ProcessDecompressStream(path) as stream:
            task = asyncio.ensure_future(receive_all(stream))
            for _ in range(point):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await receive_all(stream)
        return bytes(received)

    for point in (0, 1, 3, 10, 30):
        assert run(scenario(point)) == payload


def test_closing_mid_read_kills_and_reaps_the_child(run: Run, bomb: Path) -> None:
    path = bomb

    async def scenario() -> None:
        stream = ProcessDecompressStream(path)
        async with stream:
            assert await stream.receive_some(10)
            pid = stream.get_extra_info("pid")
        assert_reaped(pid)  # left in the middle: killed, reaped, pipes and file closed
        with pytest.raises(StreamClosed):
            await stream.receive_some()

        stream = ProcessDecompressStream(path)
        await stream.__aenter__()
        pid = stream.get_extra_info("pid")
        drained = asyncio.Event()

        async def drain() -> None:
            while True:
                if not stream._child or not stream._child.chunks:
                    drained.set()
                await stream.receive_some()

        reading = asyncio.ensure_future(drain())
        await drained.wait()
        await stream.aclose()
        (outcome,) = await asyncio.gather(reading, return_exceptions=True)
        assert isinstance(outcome, StreamClosed)
        assert_reaped(pid)

    run(scenario())


def test_a_cancelled_close_still_reaps_the_child(run: Run, bomb: Path) -> None:
    path = bomb

    async def scenario() -> None:
        stream = ProcessDecompressStream(path)
        assert await stream.receive_some(10)
        pid = stream.get_extra_info("pid")
        closing = asyncio.ensure_future(stream.aclose())
        await asyncio.sleep(0)
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        await stream.aclose()  # idempotent; the cancelled close has released everything
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the loop's child watcher reaps it
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"child {pid} was not reaped")

    run(scenario())


def test_closing_while_the_child_starts(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(GZIPPED_TEXT)

    async def scenario(point: int) -> None:
        stream = ProcessDecompressStream(path)
        starting = asyncio.ensure_future(stream.receive_some())
        for _ in range(point):
            await asyncio.sleep(0)
        await stream.aclose()
        await asyncio.gather(starting, return_exceptions=True)
        assert stream._file is None
        child = stream._child
        if child is not None and child.transport is not None:
            assert child.finished.done()

    for point in (0, 1, 2, 5, 20):
        run(scenario(point))


def test_leaving_an_async_for_early_kills_the_child(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.log.gz"
    path.write_bytes(GZIPPED_TEXT * 3)  # three members

    async def scenario() -> None:
        async with tidal.open(path, "rt", compression="gzip", decompress_in="process") as text:
            async for _line in text:
                break
            pid = text.get_extra_info("pid")
        assert_reaped(pid)

    run(scenario())


def test_two_receivers_at_once_are_refused(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(GZIPPED_TEXT)

    async def scenario() -> None:
        stream = ProcessDecompressStream(path)  # not entered: the first receive waits for the start
        try:
            first = asyncio.ensure_future(stream.receive_some())
            second = asyncio.ensure_future(stream.receive_some())
            results = await asyncio.gather(first, second, return_exceptions=True)
            assert isinstance(results[1], StreamBusy) and isinstance(results[0], bytes)
        finally:
            await stream.aclose()

    run(scenario())


def test_reading_to_the_end_releases_everything(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "f.log.gz"
    path.write_bytes(GZIPPED_TEXT)

    async def scenario() -> int:
        count = 0
        async for _line in tidal.open(path, "rt", compression="gzip", decompress_in="process"):
            count += 1
        return count  # no async with: the fd check of the loop fixture sees what was left

    assert run(scenario()) == TEXT.count(b"\n")


def test_the_loop_stays_responsive(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "big.log.gz"
    path.write_bytes(gzip.compress(TEXT * 10, compresslevel=1))  # 200,000 lines

    async def scenario() -> tuple[int, int, float]:
        ticks, worst = 0, 0.0

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
        async for _line in tidal.open(path, "rt", compression="gzip", decompress_in="process"):
            count += 1
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        return count, ticks, worst

    count, ticks, worst = run(scenario())
    assert count == TEXT.count(b"\n") * 10
    assert ticks >= 5
    assert worst < 0.5, f"the 5 ms timer was held up for {worst * 1000:.0f} ms"


# -- choosing where to inflate -------------------------------------------------------------


def test_auto_stays_on_the_loop_when_zlib_ng_inflates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("zlib_ng")
    monkeypatch.setattr(_decompress_process, "spare_cores", lambda: 2.0)
    large = tmp_path / "large.gz"
    large.write_bytes(gzip.compress(random.Random(5).randbytes(1_200_000), compresslevel=1))
    assert inflate_backend() == "zlib-ng"
    assert isinstance(tidal.open(large, "rb", compression="gzip"), DecompressStream)
    assert isinstance(tidal.open(large, "rb", compression="gzip", decompress_in="process"), ProcessDecompressStream)


@pytest.mark.usefixtures("stdlib_inflate")
def test_auto_picks_the_child_for_large_files_when_a_core_is_idle(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    large = tmp_path / "large.gz"
    large.write_bytes(gzip.compress(random.Random(5).randbytes(1_200_000), compresslevel=1))
    small = tmp_path / "small.gz"
    small.write_bytes(GZIPPED_TEXT)
    idle = [2.0]
    monkeypatch.setattr(_decompress_process, "spare_cores", lambda: idle[0])

    async def where(path: Path, **options: Any) -> bool | None:
        stream = tidal.open(path, "rb", compression="gzip", **options)
        assert isinstance(stream, ProcessDecompressStream)
        data, error = await read_all(stream)
        assert error is None and data == gzip.decompress(path.read_bytes())
        return stream.uses_child_process

    async def scenario() -> list[bool | None]:
        found = [await where(large), await where(small), await where(large, decompress_in="process")]
        idle[0] = 0.4
        found.append(await where(large))
        monkeypatch.setattr(_decompress_process, "gzip_program", lambda: None)
        idle[0] = 2.0
        found.append(await where(large))
        _data, error = await read_all(tidal.open(large, "rb", compression="gzip", decompress_in="process"))
        assert isinstance(error, FileNotFoundError) and "no 'gzip' program" in str(error)
        return found

    assert run(scenario()) == [True, False, True, False, False]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"compression": "br", "decompress_in": "process"}, "decompresses gzip only"),
        ({"compression": None, "decompress_in": "process"}, "decompresses gzip only"),
        ({"compression": "gzip", "decompress_in": "thread"}, "decompress_in must be"),
    ],
)
def test_bad_choices_are_refused_at_once(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tidal.open(tmp_path / "f.gz", "rb", **options)


def test_other_codings_stay_on_the_loop(tmp_path: Path) -> None:
    for compression in ("br", "zstd", "deflate", "zlib"):
        assert not isinstance(tidal.open(tmp_path / "f", "rb", compression=compression), ProcessDecompressStream)


# -- the exit status and diagnostic mapping (no child needed) ---------------------------------


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        (0, "", None),
        (1, "gzip: stdin: unexpected end of file\n", TruncatedStreamError),
        (1, "gzip: stdin: invalid compressed data--crc error\n", ChecksumError),
        (1, "gzip: stdin: invalid compressed data--length error\n", ChecksumError),
        (1, "gzip: stdin: invalid compressed data--format violated\n", CorruptStreamError),
        (2, "gzip: stdin: decompression OK, trailing garbage ignored\n", TrailingDataError),
        (2, "gzip: stdin: decompression OK, trailing zero bytes ignored\n", None),
        (1, "gzip: stdin: Input/output error\n", ChildProcessError),
        (-9, "", ChildProcessError),
        (3, "", ChildProcessError),
    ],
)
def test_child_failure_maps_gzip_diagnostics(status: int, diagnostic: str, expected: type[Exception] | None) -> None:
    failure = child_failure(status, diagnostic)
    if expected is None:
        assert failure is None
    else:
        assert type(failure) is expected
        assert ("signal 9" if status < 0 else diagnostic.strip() or f"status {status}") in str(failure)
