"""Exceptions raised by the compression engines.

Remote errors (the peer sent a corrupt, truncated or hostile stream, or named
a coding we cannot decode) derive from :class:`DecompressionError`, itself a
:class:`~tidal.protocols.RemoteProtocolError`.  Misuse of the engine by its
caller raises :class:`CompressionUsageError`, a
:class:`~tidal.protocols.LocalProtocolError`.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = [
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


class CompressionError(ProtocolError):
    """Base class of every error raised by :mod:`tidal.protocols.compression`."""


class DecompressionError(CompressionError, RemoteProtocolError):
    """The compressed input (or the coding list describing it) is unacceptable."""


class CorruptStreamError(DecompressionError):
    """The compressed bytes are not valid for their format (bad magic, bad block...)."""


class ChecksumError(CorruptStreamError):
    """A stored checksum or length (gzip CRC-32/ISIZE, zlib Adler-32) does not match."""


class TruncatedStreamError(DecompressionError):
    """The input ended before the compressed stream was complete."""


class TrailingDataError(DecompressionError):
    """Bytes follow the end of a compressed stream that its format does not allow."""


class DecompressionLimitError(DecompressionError):
    """The output exceeded ``max_output`` or the output/input ratio exceeded ``max_ratio``."""


class UnsupportedCodingError(DecompressionError):
    """A content-coding name that this engine does not know."""


class MissingCodecError(UnsupportedCodingError):
    """A known content-coding (or the zlib-ng inflate backend) whose optional package is absent."""


class TooManyCodingsError(DecompressionError):
    """More chained content-codings than the limit (5 by default)."""


class CompressionUsageError(CompressionError, LocalProtocolError):
    """The engine was used out of order: fed after ``finish()``, after an error, etc."""
