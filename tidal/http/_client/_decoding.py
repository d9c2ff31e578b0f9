"""Undoing Content-Encoding on the response body, incrementally and within limits.

The HTTP engine reports the codings (at most five, RFC 9110 §8.4 order); the
:class:`~tidal.protocols.compression.Decompressor` undoes them with a bound on
the output of each step, a total size limit and a ratio limit, so a gzip bomb
is refused long before it fills memory.  A body that ends mid-stream (a
truncated gzip member) is an error, never silently short.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...protocols.compression import CompressionError, Decompressor

from ._errors import DecodingError

__all__ = ["BodyDecoder", "DECODED_PIECE_SIZE"]

#: The largest decoded piece handed on.  Pieces of the engine's default
#: 256 KiB made the C library grow and trim the heap around each one (700
#: ``brk`` calls and their page faults for a 50 MiB body, in the kernel, so
#: invisible in instruction counts); at 64 KiB reusing freed memory is the
#: common case and a gzip text body costs about a fifth less CPU.
DECODED_PIECE_SIZE = 64 * 1024


class BodyDecoder:
    """Feed transfer-decoded body bytes, get content-decoded bytes; raise :class:`DecodingError`."""

    __slots__ = ("_decompressor", "_error", "codings")

    def __init__(self, codings: Sequence[str], max_output: int | None) -> None:
        self.codings = tuple(codings)
        self._decompressor: Decompressor | None = None
        # An unsupported coding is reported when the body is decoded, not
        # before: a caller may only want the head, or the raw bytes.
        self._error: DecodingError | None = None
        try:
            self._decompressor = (
                Decompressor(list(codings), max_output=max_output, max_length=DECODED_PIECE_SIZE) if codings else None
            )
        except CompressionError as exc:
            self._error = DecodingError(f"cannot decode the response body: {exc}")

    def feed(self, data: bytes) -> list[bytes]:
        """The decoded output for ``data`` (possibly several slices, possibly none)."""
        decompressor = self._decompressor
        if decompressor is None:
            if self._error is not None:
                raise self._error
            return [data] if data else []
        try:
            out = [decompressor.feed(data)]
            while not decompressor.needs_input:
                out.append(decompressor.feed(b""))
        except CompressionError as exc:
            raise DecodingError(f"cannot decode the {', '.join(self.codings)} response body: {exc}") from exc
        return [piece for piece in out if piece]

    def finish(self) -> None:
        """The body ended: raise :class:`DecodingError` if a compressed stream was cut short."""
        if self._decompressor is None:
            if self._error is not None:
                raise self._error
            return
        try:
            self._decompressor.finish()
        except CompressionError as exc:
            raise DecodingError(f"cannot decode the {', '.join(self.codings)} response body: {exc}") from exc
