"""Bad compressed input: each case's error type and message, whatever the split."""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Sequence

import brotli
import pytest
import zstandard

from tidal.protocols import LocalProtocolError, RemoteProtocolError
from tidal.protocols.compression import (
    ChecksumError,
    CompressionUsageError,
    CorruptStreamError,
    DecompressionError,
    Decompressor,
    MissingCodecError,
    TooManyCodingsError,
    TrailingDataError,
    TruncatedStreamError,
    UnsupportedCodingError,
)
from tidal.protocols.compression import _codings

from .test_compression import TEXT, gzip_member, raw_deflate

# Every case with zlib-ng and with the standard zlib inflating (see tidal.protocols.compression._inflate).
pytestmark = pytest.mark.usefixtures("each_inflate_backend")

GZ = gzip.compress(TEXT)
ZL = zlib.compress(TEXT)
ZS = zstandard.ZstdCompressor(write_checksum=True).compress(TEXT)
BR = brotli.compress(TEXT)


def with_byte(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1 :]


def run(codings: str, chunks: Sequence[bytes]) -> None:
    decoder = Decompressor(codings, max_length=1000)
    for chunk in chunks:
        decoder.feed(chunk)
        while not decoder.needs_input:
            decoder.feed(b"")
    decoder.finish()


CORPUS = [
    # gzip framing
    ("gzip-truncated-in-header", "gzip", GZ[:5], TruncatedStreamError,
     r"^gzip stream truncated: member 1 ended in its header \(after 5 header bytes\)$"),
    ("gzip-truncated-in-named-header", "gzip", gzip_member(b"x", name=b"name")[:13], TruncatedStreamError,
     r"member 1 ended in its header \(after 13 header bytes\)$"),
    ("gzip-truncated-in-body", "gzip", GZ[:-40], TruncatedStreamError,
     r"^gzip stream truncated: member 1 ended in its deflate body \(after \d+ decompressed bytes\)$"),
    ("gzip-truncated-in-trailer", "gzip", GZ[:-3], TruncatedStreamError,
     r"^gzip stream truncated: member 1 ended in its 8-byte trailer \(after 5 trailer bytes\)$"),
    ("gzip-truncated-second-member", "gzip", GZ + GZ[:3], TruncatedStreamError,
     r"member 2 ended in its header \(after 3 header bytes\)$"),
    ("gzip-garbage-after-member", "gzip", GZ + b"<html>", TrailingDataError,
     r"^trailing garbage after gzip member 1: 3c is neither another member \(1f 8b\) nor zero padding$"),
    ("gzip-one-garbage-byte", "gzip", GZ + b"x", TrailingDataError, r"^trailing garbage after gzip member 1: 78 is"),
    ("gzip-garbage-after-padding", "gzip", GZ + b"\0\0\0x", TrailingDataError,
     r"^trailing garbage after gzip member 1: non-zero byte after zero padding$"),
    ("gzip-bad-crc", "gzip", with_byte(GZ, len(GZ) - 8, GZ[-8] ^ 1), ChecksumError,
     r"^gzip member 1: CRC-32 mismatch \(trailer 0x[0-9a-f]{8}, data 0x[0-9a-f]{8}\)$"),
    ("gzip-bad-isize", "gzip", GZ[:-4] + struct.pack("<I", len(TEXT) + 1), ChecksumError,
     rf"^gzip member 1: ISIZE mismatch \(trailer {len(TEXT) + 1}, data {len(TEXT)}\)$"),
    ("gzip-bad-magic", "gzip", b"PK\x03\x04" + GZ, CorruptStreamError,
     r"^not a gzip stream: starts with 50, expected 1f 8b$"),
    ("gzip-bad-second-magic-byte", "gzip", b"\x1f\x00" + GZ, CorruptStreamError,
     r"^not a gzip stream: starts with 1f 00, expected 1f 8b$"),
    ("gzip-bad-method", "gzip", with_byte(GZ, 2, 7), CorruptStreamError,
     r"^gzip member 1: unknown compression method 7 \(only 8, deflate\)$"),
    ("gzip-reserved-flags", "gzip", with_byte(GZ, 3, 0x20), CorruptStreamError,
     r"^gzip member 1: reserved header flag bits set \(0x20\)$"),
    ("gzip-bad-header-crc", "gzip", with_byte(gzip_member(TEXT, hcrc=True), 10, 0), ChecksumError,
     r"^gzip member 1: header CRC mismatch \(stored 0x[0-9a-f]{4}, computed 0x[0-9a-f]{4}\)$"),
    ("gzip-unterminated-name", "gzip", b"\x1f\x8b\x08\x08" + bytes(6) + b"n" * 70000, CorruptStreamError,
     r"^gzip member 1: header exceeds 65536 bytes$"),
    ("gzip-corrupt-deflate", "gzip", GZ[:10] + b"\xff" * 30, CorruptStreamError,
     r"^gzip member 1 deflate data is corrupt: invalid block type$"),
    # zlib / deflate
    ("zlib-bad-adler", "zlib", ZL[:-1] + bytes([ZL[-1] ^ 1]), ChecksumError,
     r"^zlib data: checksum mismatch \(incorrect data check\)$"),
    ("zlib-bad-header", "zlib", b"\x78\x00" + ZL[2:], CorruptStreamError, r"^zlib data is corrupt: incorrect header check$"),
    ("zlib-truncated", "zlib", ZL[:-2], TruncatedStreamError, r"^zlib stream truncated: input ended after \d+ bytes"),
    ("zlib-trailing", "zlib", ZL + b"xyz", TrailingDataError, r"^trailing data after the end of the zlib stream$"),
    ("zlib-preset-dictionary", "deflate", (lambda c: c.compress(TEXT) + c.flush())(zlib.compressobj(zdict=b"GET")),
     CorruptStreamError, r"stream needs a preset dictionary"),
    ("deflate-corrupt-raw", "deflate", b"\xff\xff\xff\xff", CorruptStreamError, r"^deflate data is corrupt: invalid block type$"),
    ("deflate-truncated-sniff", "deflate", b"\x78", TruncatedStreamError, r"^deflate stream truncated: input ended after 1 bytes"),
    ("deflate-raw-truncated", "deflate-raw", raw_deflate(TEXT)[:-3], TruncatedStreamError, r"^deflate-raw stream truncated"),
    # brotli / zstd
    ("br-corrupt", "br", b"\xff" * 40, CorruptStreamError, r"^br data is corrupt or followed by trailing data"),
    ("br-truncated", "br", BR[:-5], TruncatedStreamError, r"^br stream truncated: input ended after \d+ bytes"),
    # br cannot tell trailing bytes from corruption when both reach it in one call: one type for every split.
    ("br-trailing", "br", BR + b"garbage", CorruptStreamError, r"^br data is corrupt or followed by trailing data"),
    ("zstd-bad-magic", "zstd", b"\x28\xb5\x2f\xfe" + ZS[4:], CorruptStreamError,
     r"^not a zstd stream: starts with 28 b5 2f fe, expected 28 b5 2f fd$"),
    ("zstd-truncated-block", "zstd", ZS[:-10], TruncatedStreamError, r"^zstd stream truncated: frame 1 ended inside its block"),
    ("zstd-truncated-checksum", "zstd", ZS[:-2], TruncatedStreamError, r"^zstd stream truncated: frame 1 ended inside its checksum"),
    ("zstd-bad-checksum", "zstd", ZS[:-1] + bytes([ZS[-1] ^ 1]), CorruptStreamError, r"^zstd frame 1 is corrupt"),
    ("zstd-garbage-after-frame", "zstd", ZS + b"<html>", TrailingDataError,
     r"^trailing garbage after zstd frame 1: 3c 68 74 6d is not a frame$"),
    ("zstd-short-garbage", "zstd", ZS + b"ab", TrailingDataError,
     r"^trailing garbage after zstd frame 1: 2 bytes too short to be a frame$"),
    ("zstd-reserved-block", "zstd", ZS[:6] + b"\x07\x00\x00" + ZS[9:], CorruptStreamError, r"reserved block type|is corrupt"),
    # chains
    ("chain-inner-corrupt", "gzip, br", brotli.compress(b"not gzip at all"), CorruptStreamError, r"^not a gzip stream"),
]


@pytest.mark.parametrize(("codings", "data", "error", "message"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
@pytest.mark.parametrize("split", ["whole", "byte-by-byte", "in-threes"])
def test_bad_input_raises_typed_error(
    codings: str, data: bytes, error: type[Exception], message: str, split: str
) -> None:
    chunks = {
        "whole": [data],
        "byte-by-byte": [bytes([b]) for b in data],
        "in-threes": [data[i : i + 3] for i in range(0, len(data), 3)],
    }[split]
    with pytest.raises(error, match=message) as info:
        run(codings, chunks)
    assert isinstance(info.value, RemoteProtocolError)


@pytest.mark.parametrize(
    ("header", "error", "message"),
    [
        ("gzip, gzip, gzip, gzip, gzip, gzip", TooManyCodingsError, r"^6 content-codings exceed the limit of 5$"),
        ("identity," * 6, TooManyCodingsError, r"^6 content-codings exceed the limit of 5$"),
        ("compress", UnsupportedCodingError, r"^unsupported content-coding 'compress' \(supported: gzip, deflate"),
        ("gzip, lzma", UnsupportedCodingError, r"^unsupported content-coding 'lzma'"),
        ("g zip", UnsupportedCodingError, r"^malformed content-coding 'g zip'$"),
    ],
)
def test_bad_coding_lists(header: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Decompressor(header)


def test_five_codings_are_allowed() -> None:
    data = TEXT
    for _ in range(5):
        data = gzip.compress(data)
    decoder = Decompressor("gzip," * 5, max_length=1 << 20)
    assert decoder.feed(data) == TEXT


@pytest.mark.parametrize(("coding", "package"), [("br", "brotli"), ("zstd", "zstandard")])
def test_missing_optional_package_is_named(monkeypatch: pytest.MonkeyPatch, coding: str, package: str) -> None:
    monkeypatch.setattr(_codings, "_try_import", lambda name: None)
    with pytest.raises(MissingCodecError, match=rf"^content-coding '{coding}' needs the optional '{package}' package"):
        Decompressor(coding)
    assert coding not in _codings.available_codings()


def test_usage_errors_are_local() -> None:
    decoder = Decompressor("gzip")
    decoder.feed(GZ)
    decoder.finish()
    with pytest.raises(CompressionUsageError, match=r"^feed\(\) after finish\(\)$"):
        decoder.feed(b"x")

    pending = Decompressor("gzip", max_length=10)
    pending.feed(GZ)
    with pytest.raises(CompressionUsageError, match="output is pending"):
        pending.finish()

    failed = Decompressor("gzip")
    with pytest.raises(CorruptStreamError):
        failed.feed(b"nope")
    with pytest.raises(CompressionUsageError, match=r"^feed\(\) after the decompressor failed: not a gzip stream") as info:
        failed.feed(GZ)
    assert isinstance(info.value, LocalProtocolError)
    with pytest.raises(ValueError, match="max_length"):
        Decompressor("gzip", max_length=0)
