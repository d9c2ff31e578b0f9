"""Sans-IO incremental decompression: gzip (every member), zlib, raw deflate, br, zstd.

Bytes in, bytes out, no I/O.  :class:`Decompressor` undoes a chain of
content-codings (``Content-Encoding: gzip, br``) with a per-call output bound
(``max_length``), a total size limit (``max_output``) and a ratio limit
(``max_ratio``), so a decompression bomb never materializes.  ``br`` and
``zstd`` need the optional ``brotli`` (>= 1.2) and ``zstandard`` packages
(``pip install 'tidal[compression]'``).  gzip, zlib and raw deflate inflate
with zlib-ng when the optional ``zlib-ng`` package is installed (``pip
install 'tidal[speedups]'``), less than half of zlib's CPU time for the same
bytes; see :func:`set_inflate_backend`.  :class:`Compressor` is the encoding
side, for servers.  See ``docs/protocols/compression.md``.
"""

from ._codings import MAX_CODINGS, SUPPORTED_CODINGS, accept_encoding, available_codings, parse_content_encoding
from ._compressor import Compressor
from ._decompressor import DEFAULT_MAX_LENGTH, DEFAULT_MAX_RATIO, RATIO_GRACE_BYTES, Decompressor
from ._inflate import INFLATE_BACKENDS, inflate_backend, set_inflate_backend
from ._errors import (
    ChecksumError,
    CompressionError,
    CompressionUsageError,
    CorruptStreamError,
    DecompressionError,
    DecompressionLimitError,
    MissingCodecError,
    TooManyCodingsError,
    TrailingDataError,
    TruncatedStreamError,
    UnsupportedCodingError,
)

__all__ = [
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
]
