"""The public surface of tidal.protocols.compression is pinned."""

from __future__ import annotations

import gzip
import re
import pathlib

import pytest
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
    "INFLATE_BACKENDS",
    "inflate_backend",
    "set_inflate_backend",
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


@pytest.mark.parametrize(
    ("coding", "level", "message"),
    [
        ("nope", None, "a Compressor cannot encode 'nope': unsupported content-coding 'nope'"),
        ("gzip, br", None, "a Compressor cannot encode 'gzip, br': 2 content-codings exceed the limit of 1"),
        ("gzip", 10, "gzip level 10 is outside 0..9"),
        ("br", 12, "br level 12 is outside 0..11"),
        ("zstd", 0, "zstd level 0 is outside 1..22"),
    ],
)
def test_compressor_misuse_is_a_local_error(coding: str, level: int | None, message: str) -> None:
    from tidal.protocols import LocalProtocolError
    from tidal.protocols.compression import CompressionUsageError, Compressor

    with pytest.raises(CompressionUsageError, match=re.escape(message)) as caught:
        Compressor(coding, level=level)
    assert isinstance(caught.value, LocalProtocolError)


def test_inflate_backend_defaults_to_zlib_ng_when_installed() -> None:
    pytest.importorskip("zlib_ng")  # in the test extra; the fallback is tested below
    assert compression.inflate_backend() == "zlib-ng"


def _decode(decoder: Decompressor, data: bytes) -> bytes:
    out = [decoder.feed(data)]
    while not decoder.needs_input:
        out.append(decoder.feed(b""))
    return b"".join(out)


def test_set_inflate_backend_switches_new_decoders_only() -> None:
    text = b"line\n" * 50_000
    data = gzip.compress(text)
    before = compression.inflate_backend()
    started = Decompressor("gzip")
    first = _decode(started, data[: len(data) // 2])
    try:
        compression.set_inflate_backend("zlib")
        assert compression.inflate_backend() == "zlib"
        fresh = Decompressor("gzip")
        assert _decode(fresh, data) == text
        fresh.finish()
        # The decoder that started before the switch keeps its library to the end.
        assert first + _decode(started, data[len(data) // 2 :]) == text
        started.finish()
    finally:
        compression.set_inflate_backend(before)


def test_set_inflate_backend_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown inflate backend 'isal'"):
        compression.set_inflate_backend("isal")


def test_zlib_ng_backend_without_the_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "zlib_ng", None)  # import fails as if absent
    before = compression.inflate_backend()
    with pytest.raises(compression.MissingCodecError, match=r"tidal\[speedups\]"):
        compression.set_inflate_backend("zlib-ng")
    assert compression.inflate_backend() == before
