"""Decompression: every coding, whole / byte by byte / random splits, same output."""

from __future__ import annotations

import gzip
import random
import struct
import zlib
from collections.abc import Callable, Sequence

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from tidal.protocols.compression import (
    DecompressionLimitError,
    Decompressor,
    accept_encoding,
    available_codings,
    parse_content_encoding,
)

# Every case with zlib-ng and with the standard zlib inflating (see tidal.protocols.compression._inflate).
pytestmark = pytest.mark.usefixtures("each_inflate_backend")

TEXT = b"".join(b"%05d GET /index.html HTTP/1.1 200 %d\n" % (i, i * 7919 % 100000) for i in range(400))


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def gzip_member(data: bytes, *, name: bytes = b"", comment: bytes = b"", extra: bytes = b"", hcrc: bool = False) -> bytes:
    """A gzip member with the optional header fields we want to exercise."""
    flags = (0x04 if extra else 0) | (0x08 if name else 0) | (0x10 if comment else 0) | (0x02 if hcrc else 0)
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    if extra:
        header += struct.pack("<H", len(extra)) + extra
    if name:
        header += name + b"\0"
    if comment:
        header += comment + b"\0"
    if hcrc:
        header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    return header + raw_deflate(data) + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def decode(codings: str, chunks: Sequence[bytes], max_length: int = 4096, **limits: object) -> bytes:
    """Feed ``chunks`` in order, drain, finish; assert the per-call output bound."""
    decoder = Decompressor(codings, max_length=max_length, **limits)  # type: ignore[arg-type]
    output = []
    for chunk in chunks:
        output.append(decoder.feed(chunk))
        while not decoder.needs_input:
            output.append(decoder.feed(b""))
            # Progress guarantee: an empty answer means the decoder now needs input.
            assert output[-1] or decoder.needs_input
        assert all(len(piece) <= max_length for piece in output)
    decoder.finish()
    return b"".join(output)


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({min(max(cut, 0), len(data)) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "zlib": zlib.compress,
    "deflate-raw": raw_deflate,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
}
# HTTP "deflate" accepts both wrappings.
CASES = [*ENCODERS.items(), ("deflate", zlib.compress), ("deflate", raw_deflate)]
CASE_IDS = [*ENCODERS, "deflate(zlib)", "deflate(raw)"]


@pytest.mark.parametrize(("coding", "encode"), CASES, ids=CASE_IDS)
def test_whole_and_byte_by_byte_agree(coding: str, encode: Callable[[bytes], bytes]) -> None:
    compressed = encode(TEXT)
    assert decode(coding, [compressed]) == TEXT
    assert decode(coding, [bytes([b]) for b in compressed], max_length=97) == TEXT


@pytest.mark.parametrize(("coding", "encode"), CASES, ids=CASE_IDS)
@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 20000), max_size=12), max_length=st.integers(1, 5000))
def test_random_splits_agree(coding: str, encode: Callable[[bytes], bytes], cuts: list[int], max_length: int) -> None:
    compressed = encode(TEXT)
    assert decode(coding, split_at(compressed, cuts), max_length=max_length) == TEXT


def test_gzip_decodes_every_member_even_empty_ones() -> None:
    stream = gzip.compress(b"first\n") + gzip.compress(b"") + gzip_member(b"third\n", name=b"x.log")
    assert decode("gzip", [stream]) == b"first\nthird\n"
    assert decode("gzip", [bytes([b]) for b in stream], max_length=1) == b"first\nthird\n"


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cuts=st.lists(st.integers(0, 3000), max_size=10),
    padding=st.integers(0, 3),
)
def test_gzip_members_split_anywhere(members: list[bytes], cuts: list[int], padding: int) -> None:
    stream = b"".join(gzip_member(m, name=b"n", comment=b"c", extra=b"xy", hcrc=True) for m in members)
    stream += b"\0" * padding
    assert decode("gzip", split_at(stream, cuts), max_length=64) == b"".join(members)


def test_gzip_optional_header_fields_are_skipped() -> None:
    member = gzip_member(TEXT, name=b"access.log", comment=b"rotated", extra=b"\x01\x02abc", hcrc=True)
    assert decode("gzip", [member]) == TEXT
    assert decode("gzip", [bytes([b]) for b in member]) == TEXT


def test_gzip_zero_padding_after_last_member_is_accepted() -> None:
    assert decode("gzip", [gzip.compress(TEXT) + bytes(1000)]) == TEXT


def test_zstd_multiple_and_skippable_frames() -> None:
    skippable = struct.pack("<II", 0x184D2A53, 3) + b"abc"
    frames = zstandard.ZstdCompressor().compress(b"one ") + skippable + zstandard.ZstdCompressor().compress(b"two")
    assert decode("zstd", [frames]) == b"one two"
    assert decode("zstd", [bytes([b]) for b in frames]) == b"one two"


def test_empty_body_decodes_to_nothing_for_every_coding() -> None:
    for coding in available_codings():
        assert decode(coding, []) == b""
        assert decode(coding, [b""]) == b""


def test_chained_codings_are_undone_in_reverse_order() -> None:
    layered = brotli.compress(gzip.compress(TEXT))  # Content-Encoding: gzip, br
    assert decode("gzip, br", [layered]) == TEXT
    assert decode("gzip, br", [bytes([b]) for b in layered], max_length=50) == TEXT
    three = zstandard.ZstdCompressor().compress(zlib.compress(gzip.compress(TEXT)))
    assert decode("gzip, deflate, zstd", split_at(three, [5, 100, 101])) == TEXT


def test_identity_passes_bytes_through() -> None:
    assert Decompressor("").feed(b"plain") == b"plain"
    assert Decompressor("identity").codings == ()
    assert Decompressor(["identity", "gzip"]).codings == ("gzip",)


def test_parse_content_encoding() -> None:
    assert parse_content_encoding("gzip, br") == ["gzip", "br"]
    assert parse_content_encoding(["X-GZIP", " identity ,zstd"]) == ["gzip", "zstd"]
    assert parse_content_encoding("") == []


def test_accept_encoding_lists_installed_http_codings() -> None:
    assert accept_encoding() == "zstd, br, gzip, deflate"


def zero_bomb(gibibytes: int = 1) -> bytes:
    """About 1 MiB of gzip that inflates to ``gibibytes`` GiB of zeros.

    A Z_FULL_FLUSH resets the compressor, so every further MiB of zeros
    compresses to the very same bytes: we repeat them instead of compressing
    (or allocating) the whole output.  The trailer is never reached.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    segment = compressor.compress(bytes(1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + segment * (1024 * gibibytes - 1) + compressor.flush()


def test_bomb_fed_at_once_yields_bounded_slices_until_the_size_limit() -> None:
    bomb = zero_bomb()
    decoder = Decompressor("gzip", max_output=8 << 20, max_ratio=None, max_length=65536)
    total = len(decoder.feed(bomb))
    with pytest.raises(DecompressionLimitError, match=r"^decompressed size exceeds max_output=8388608 bytes$"):
        while True:
            piece = decoder.feed(b"")
            assert len(piece) <= 65536
            total += len(piece)
    assert total == 8 << 20


def test_bomb_trips_the_default_ratio_limit_early() -> None:
    decoder = Decompressor("gzip")
    with pytest.raises(DecompressionLimitError, match=r"^decompression ratio exceeds max_ratio=1000 \(\d+ bytes out of \d+"):
        decoder.feed(zero_bomb())
        while True:
            decoder.feed(b"")
    assert decoder.total_out < 4 << 20


def test_ratio_limit_counts_consumed_not_fed_input() -> None:
    data = bytes(4 << 20)
    decoder = Decompressor("gzip", max_ratio=100)
    with pytest.raises(DecompressionLimitError, match="max_ratio=100"):
        decoder.feed(gzip.compress(data) + gzip.compress(random.Random(1).randbytes(1 << 20)))
        while True:
            decoder.feed(b"")


def test_ordinary_text_stays_under_the_default_ratio() -> None:
    data = TEXT * 200
    assert decode("gzip", [gzip.compress(data)], max_length=1 << 20) == data


def test_size_limit_applies_to_identity_and_chains() -> None:
    identity = Decompressor("", max_output=3)
    assert identity.feed(b"four") == b"fou"  # exactly max_output bytes, then the error
    assert not identity.needs_input
    with pytest.raises(DecompressionLimitError, match="max_output=3"):
        identity.feed(b"")
    assert decode("gzip, gzip", [gzip.compress(gzip.compress(TEXT))], max_output=len(TEXT)) == TEXT
    with pytest.raises(DecompressionLimitError, match=f"max_output={len(TEXT) - 1}"):
        decode("gzip, gzip", [gzip.compress(gzip.compress(TEXT))], max_output=len(TEXT) - 1)


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_high_ratio_codings_stay_bounded_per_call(coding: str) -> None:
    data = bytes(16 << 20)
    compressed = brotli.compress(data, quality=1) if coding == "br" else ENCODERS[coding](data)
    decoder = Decompressor(coding, max_ratio=None, max_length=65536)
    first = decoder.feed(compressed)
    # zstd hands out whole blocks (<= 128 KiB) from inside; callers see <= max_length.
    assert len(first) <= 65536
    total = len(first)
    while not decoder.needs_input:
        piece = decoder.feed(b"")
        assert len(piece) <= 65536
        total += len(piece)
    decoder.finish()
    assert total == len(data)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "zlib", "deflate-raw", "br", "zstd"])
def test_compressor_round_trips_with_flushes(coding: str) -> None:
    from tidal.protocols.compression import Compressor

    compressor = Compressor(coding)
    decoder = Decompressor(coding, max_length=1 << 20)
    first = compressor.compress(TEXT[:5000]) + compressor.flush()
    # After flush() the peer can decode everything sent so far.
    assert decoder.feed(first) == TEXT[:5000]
    rest = compressor.compress(TEXT[5000:]) + compressor.finish()
    assert decoder.feed(rest) == TEXT[5000:]
    decoder.finish()
