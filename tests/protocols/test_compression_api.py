"""The public surface of tidal.protocols.compression is pinned."""

from __future__ import annotations

import gzip
import pathlib

import zstandard

import tidal.protocols.compression as compression
from tidal.protocols.compression import Decompressor

EXPECTED = {
    "Decompressor",
    "Compressor",
    "parse_content_encoding",
    "available_codings",
    "accept_encoding",
    "SUPPORTED_CODINGS",
    "MAX_CODINGS",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_MAX_RATIO",
    "RATIO_GRACE_BYTES",
    "CompressionError",
    "DecompressionError",
    "CorruptStreamError",
    "ChecksumError",
    "TruncatedStreamError",
    "TrailingDataError",
    "DecompressionLimitError",
    "UnsupportedCodingError",
    "MissingCodecError",
    "TooManyCodingsError",
    "CompressionUsageError",
}


def test_exported_names_are_pinned() -> None:
    assert set(compression.__all__) == EXPECTED
    for name in EXPECTED - {n for n in EXPECTED if n.isupper()}:
        assert getattr(compression, name).__module__.startswith("tidal.protocols.compression._")


def test_engine_imports_no_io_modules() -> None:
    import sys

    source_modules = [m for m in sys.modules if m.startswith("tidal.protocols.compression")]
    assert source_modules
    for module in source_modules:
        text = pathlib.Path(sys.modules[module].__file__ or "").read_text()
        for forbidden in ("import asyncio", "import socket", "import time", "import selectors"):
            assert forbidden not in text, (module, forbidden)


def test_needs_input_turns_true_once_all_output_is_returned() -> None:
    for coding, data in [("gzip", gzip.compress(b"abc")), ("zstd", zstandard.ZstdCompressor(write_checksum=True).compress(b"abc"))]:
        decoder = Decompressor(coding)
        assert decoder.feed(data) == b"abc"
        assert decoder.needs_input
        decoder.finish()
