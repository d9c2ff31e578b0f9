"""The encoding side, for servers: one content-coding, incremental."""

from __future__ import annotations

import zlib
from typing import Any

from ._codings import make_stage, parse_content_encoding, require_module
from ._errors import CompressionUsageError, TooManyCodingsError, UnsupportedCodingError

__all__ = ["Compressor"]

_WBITS = {"gzip": 31, "deflate": 15, "zlib": 15, "deflate-raw": -15}
# Each codec's own level scale (inclusive).
_LEVELS = {"gzip": (0, 9), "deflate": (0, 9), "zlib": (0, 9), "deflate-raw": (0, 9), "br": (0, 11), "zstd": (1, 22)}


class Compressor:
    """Incrementally encode one content-coding (``gzip``, ``deflate``, ``zlib``, ``deflate-raw``, ``br``, ``zstd``).

    ``compress(data)`` returns whatever encoded bytes are ready (often none),
    ``flush()`` forces out everything so far so the peer can decode it (use it
    before waiting on a slow producer), and ``finish()`` ends the stream.
    ``deflate`` produces the zlib format, as RFC 9110 §8.4.1.2 requires.
    ``level`` is the codec's own scale (zlib 0-9, brotli 0-11, zstd 1-22);
    ``None`` picks a fast default suited to on-the-fly HTTP responses.
    """

    def __init__(self, coding: str = "gzip", *, level: int | None = None) -> None:
        # A bad coding name or level is our caller's mistake, not a peer's:
        # local errors (CompressionUsageError), unlike the decoding side.
        try:
            names = parse_content_encoding(coding, max_codings=1)
        except (UnsupportedCodingError, TooManyCodingsError) as exc:
            raise CompressionUsageError(f"a Compressor cannot encode {coding!r}: {exc}") from None
        if len(names) != 1:
            raise CompressionUsageError(f"a Compressor encodes exactly one coding, not {coding!r}")
        self.coding = names[0]
        low, high = _LEVELS[self.coding]
        if level is not None and not low <= level <= high:
            raise CompressionUsageError(f"{self.coding} level {level} is outside {low}..{high}")
        make_stage(self.coding)  # raises MissingCodecError early if the package is absent
        self._encoder = _new_encoder(self.coding, level)
        self._finished = False

    def compress(self, data: bytes) -> bytes:
        """Encode ``data``; return the encoded bytes that are ready."""
        self._check_open()
        if self.coding == "br":
            return bytes(self._encoder.process(data))
        return bytes(self._encoder.compress(data))

    def flush(self) -> bytes:
        """Return everything encoded so far, decodable by the peer right away."""
        self._check_open()
        if self.coding == "br":
            return bytes(self._encoder.flush())
        if self.coding == "zstd":
            return bytes(self._encoder.flush(require_module("zstd").COMPRESSOBJ_FLUSH_BLOCK))
        return bytes(self._encoder.flush(zlib.Z_SYNC_FLUSH))

    def finish(self) -> bytes:
        """End the stream and return its last bytes; the compressor is then closed."""
        self._check_open()
        self._finished = True
        if self.coding == "br":
            return bytes(self._encoder.finish())
        return bytes(self._encoder.flush())

    def _check_open(self) -> None:
        if self._finished:
            raise CompressionUsageError("Compressor used after finish()")


def _new_encoder(coding: str, level: int | None) -> Any:
    if coding in _WBITS:
        return zlib.compressobj(6 if level is None else level, zlib.DEFLATED, _WBITS[coding])
    module = require_module(coding)
    if coding == "br":
        return module.Compressor(quality=4 if level is None else level)
    return module.ZstdCompressor(level=3 if level is None else level).compressobj()
