"""Output before a fault: the same bytes, then the same error, whatever the split.

A call that decodes output and then meets a fault returns the output and
the next call raises; zlib-based stages replay a failing call byte by byte,
so the output before the fault equals what a byte-by-byte feed gives.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.compression import (
    ChecksumError,
    CompressionUsageError,
    CorruptStreamError,
    DecompressionError,
    DecompressionLimitError,
    Decompressor,
    TrailingDataError,
)

from .test_compression import TEXT

# Every case with zlib-ng and with the standard zlib inflating (see tidal.protocols.compression._inflate).
pytestmark = pytest.mark.usefixtures("each_inflate_backend")

GZ = gzip.compress(TEXT)
ZL = zlib.compress(TEXT)
ZS = zstandard.ZstdCompressor().compress(TEXT)
BR = brotli.compress(TEXT)


HALF = len(TEXT) // 2


def deflate_then_invalid_block(data: bytes) -> bytes:
    """Raw deflate of ``data``, flushed to a byte boundary, then a block of the reserved type 3."""
    compressor = zlib.compressobj(wbits=-15)
    # 0x06: BFINAL=0, BTYPE=11, which RFC 1951 reserves ("invalid block type").
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH) + b"\x06" + b"\xaa" * 40


# (name, codings, data, error type, message pattern, the output before the fault)
CASES = [
    ("gzip-member-then-garbage", "gzip", GZ + b"<html>", TrailingDataError, r"^trailing garbage after gzip member 1", TEXT),
    ("gzip-member-then-corrupt-member", "gzip", GZ + GZ[:10] + b"\xff" * 20, CorruptStreamError,
     r"^gzip member 2 deflate data is corrupt: invalid block type$", TEXT),
    ("gzip-member-then-bad-crc", "gzip", GZ + GZ[:-8] + bytes(8), ChecksumError, r"^gzip member 2: CRC-32 mismatch", TEXT * 2),
    ("gzip-corrupt-mid-body", "gzip", GZ[:10] + deflate_then_invalid_block(TEXT[:HALF]), CorruptStreamError,
     r"^gzip member 1 deflate data is corrupt: invalid block type$", TEXT[:HALF]),
    ("zlib-trailing", "zlib", ZL + b"xyz", TrailingDataError, r"^trailing data after the end of the zlib stream$", TEXT),
    ("zlib-bad-adler", "zlib", ZL[:-1] + bytes([ZL[-1] ^ 1]), ChecksumError, r"^zlib data: checksum mismatch", TEXT),
    ("deflate-raw-corrupt-mid", "deflate-raw", deflate_then_invalid_block(TEXT[:HALF]), CorruptStreamError,
     r"^deflate-raw data is corrupt: invalid block type$", TEXT[:HALF]),
    ("zlib-corrupt-mid", "zlib", ZL[:2] + deflate_then_invalid_block(TEXT[:HALF]), CorruptStreamError,
     r"^zlib data is corrupt: invalid block type$", TEXT[:HALF]),
    ("zstd-frame-then-garbage", "zstd", ZS + b"<html>", TrailingDataError, r"^trailing garbage after zstd frame 1", TEXT),
    ("zstd-frame-then-bad-magic-bits", "zstd", ZS + ZS[:4] + b"\x08" + ZS[5:], CorruptStreamError,
     r"^zstd frame 2: reserved frame header bit set$", TEXT),
    ("chain-gzip-in-zstd", "gzip, zstd", zstandard.ZstdCompressor().compress(GZ + b"junk"), TrailingDataError,
     r"^trailing garbage after gzip member 1", TEXT),
]


def decode_until_error(codings: str, chunks: Sequence[bytes], max_length: int = 1000) -> tuple[bytes, DecompressionError | None]:
    """The output returned before the error, and the error (None if the input was good)."""
    decoder = Decompressor(codings, max_length=max_length, max_ratio=None)
    output = bytearray()
    try:
        for chunk in chunks:
            output += decoder.feed(chunk)
            while not decoder.needs_input:
                output += decoder.feed(b"")
        decoder.finish()
    except DecompressionError as error:
        with pytest.raises(CompressionUsageError):  # and the decoder stays failed
            decoder.feed(b"")
        return bytes(output), error
    return bytes(output), None


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def byte_by_byte(codings: str, data: bytes) -> tuple[bytes, DecompressionError | None]:
    return decode_until_error(codings, [data[i : i + 1] for i in range(len(data))])


@pytest.mark.parametrize(("codings", "data", "error", "message", "good"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_valid_output_before_a_fault_is_returned_in_one_feed(
    codings: str, data: bytes, error: type[Exception], message: str, good: bytes
) -> None:
    whole, raised = decode_until_error(codings, [data], max_length=1 << 20)
    assert type(raised) is error
    assert re.search(message, str(raised))
    assert whole == good
    oracle, oracle_error = byte_by_byte(codings, data)
    assert oracle == good
    assert type(oracle_error) is error and str(oracle_error) == str(raised)


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(CASES), cuts=st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=8),
       max_length=st.sampled_from([1, 7, 1000, 1 << 20]))
def test_output_and_error_do_not_depend_on_the_split(
    case: tuple[str, str, bytes, type[Exception], str, bytes], cuts: list[int], max_length: int
) -> None:
    _, codings, data, error, message, good = case
    output, raised = decode_until_error(codings, split_at(data, cuts), max_length=max_length)
    assert output == good
    assert type(raised) is error and re.search(message, str(raised))


def test_the_error_comes_from_the_next_call_and_needs_input_stays_false() -> None:
    decoder = Decompressor("gzip")
    assert decoder.feed(GZ + b"<html>") == TEXT
    assert not decoder.needs_input
    with pytest.raises(TrailingDataError):
        decoder.feed(b"")


def test_finish_raises_the_pending_fault() -> None:
    decoder = Decompressor("zlib")
    assert decoder.feed(ZL + b"xyz") == TEXT
    with pytest.raises(TrailingDataError):
        decoder.finish()
    with pytest.raises(CompressionUsageError, match="after the decompressor failed: trailing data"):
        decoder.finish()


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=len(TEXT) - 1),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
    max_length=st.sampled_from([1, 100, 1 << 20]),
)
def test_max_output_hands_out_exactly_the_limit_then_raises(limit: int, cuts: list[int], max_length: int) -> None:
    decoder = Decompressor("gzip", max_output=limit, max_length=max_length)
    output = bytearray()
    with pytest.raises(DecompressionLimitError, match=f"max_output={limit}"):
        for chunk in split_at(GZ, cuts):
            output += decoder.feed(chunk)
            while not decoder.needs_input:
                output += decoder.feed(b"")
        decoder.finish()
    assert bytes(output) == TEXT[:limit]


@pytest.mark.parametrize("split", ["whole", "stream-then-garbage", "byte-by-byte"])
def test_br_trailing_data_has_one_error_type_whatever_the_split(split: str) -> None:
    data = BR + b"garbage"
    chunks = {
        "whole": [data],
        "stream-then-garbage": [BR, b"garbage"],
        "byte-by-byte": [data[i : i + 1] for i in range(len(data))],
    }[split]
    output, error = decode_until_error("br", chunks)
    assert type(error) is CorruptStreamError
    assert str(error).startswith("br data is corrupt or followed by trailing data")
    assert TEXT.startswith(output)  # up to one call's output may be lost; see the br stage


def test_a_fault_deep_in_one_large_call_keeps_everything_before_it() -> None:
    good = b"".join(b"%08d a line of a larger log\n" % i for i in range(200_000))
    data = deflate_then_invalid_block(good)
    decoder = Decompressor("deflate-raw", max_length=len(good) + 1, max_ratio=None)
    assert decoder.feed(data) == good  # one call: the salvage bisects about 1 MiB of input
    with pytest.raises(CorruptStreamError, match="invalid block type"):
        decoder.feed(b"")
