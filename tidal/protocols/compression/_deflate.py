"""zlib (RFC 1950) and raw deflate (RFC 1951) stages, and HTTP "deflate".

HTTP's ``deflate`` coding is defined as the zlib format (RFC 9110 §8.4.1.2),
but some servers historically sent raw deflate.  We sniff the first two
bytes: a zlib header has compression method 8 in the low nibble of its first
byte, a window size of at most 32 KiB in the high nibble, and the 16-bit
header is a multiple of 31.  A raw deflate stream whose first byte has a low
nibble of 8 would be a non-final stored block with non-zero padding bits,
which no deflate encoder writes, so the test is unambiguous in practice.
"""

from __future__ import annotations

from typing import Any

from ._errors import DecompressionError, TrailingDataError, TruncatedStreamError
from ._inflate import current_module
from ._stage import Stage, salvage_inflate, zlib_error

__all__ = ["DeflateStage", "looks_like_zlib"]

ZLIB_WBITS = 15
RAW_WBITS = -15


def looks_like_zlib(first_two: bytes) -> bool:
    """True when ``first_two`` bytes form a valid RFC 1950 header."""
    cmf, flg = first_two[0], first_two[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0


class DeflateStage(Stage):
    """Decode one zlib or raw deflate stream; ``wbits=None`` sniffs which."""

    def __init__(self, name: str, wbits: int | None) -> None:
        self._name = name
        self._wbits = wbits
        self._zlib = current_module()  # zlib-ng when installed; see _inflate
        self._inflater: Any = self._zlib.decompressobj(wbits) if wbits is not None else None
        self._pending = b""
        self._more_output = False
        self._consumed = 0
        self._eof = False

    def push(self, data: bytes) -> None:
        """Queue compressed bytes."""
        if self._eof and data:
            raise self._trailing()
        self._pending = self._pending + data if self._pending else data

    def pull(self, max_length: int) -> bytes:
        """Inflate up to ``max_length`` bytes of queued input."""
        if self.fault is not None:
            raise self.fault
        inflater = self._inflater or self._sniff()
        if inflater is None or self._eof:
            return b""
        data = self._pending
        before = inflater.copy()  # to replay this call if it fails; see _stage
        try:
            out: bytes = inflater.decompress(data, max_length)
        except self._zlib.error as error:
            out, replay_error = salvage_inflate(before, data, max_length, self._zlib.error)
            return self._fail(out, zlib_error(f"{self._name} data", replay_error or error))
        if inflater.eof:
            self._eof = True
            if inflater.unused_data:
                return self._fail(out, self._trailing())
            self._pending = b""
            self._more_output = False
        else:
            self._pending = inflater.unconsumed_tail
            # A full output buffer may hide output still inside zlib's window.
            self._more_output = len(out) == max_length
        self._consumed += len(data) - len(self._pending)
        return out

    def _fail(self, out: bytes, fault: DecompressionError) -> bytes:
        """Raise ``fault`` now, or return ``out`` and raise it from the next pull."""
        if not out:
            raise fault
        self.fault = fault
        self._pending = b""
        self._more_output = False
        return out

    @property
    def needs_input(self) -> bool:
        """True when everything queued has been inflated and returned (or sniffing waits)."""
        if self.fault is not None:
            return False
        if self._inflater is None:
            return True  # fewer than two bytes: nothing can happen until more arrive
        return not self._pending and not self._more_output

    @property
    def pending_input(self) -> int:
        """Queued bytes that zlib has not consumed."""
        return len(self._pending)

    def finish(self) -> None:
        """Raise :class:`TruncatedStreamError` unless the stream ended."""
        if not self._eof:
            raise TruncatedStreamError(
                f"{self._name} stream truncated: input ended after {self._consumed + len(self._pending)}"
                " bytes, before the end of the compressed data"
            )

    def _sniff(self) -> Any:
        if len(self._pending) < 2:
            return None
        self._wbits = ZLIB_WBITS if looks_like_zlib(self._pending[:2]) else RAW_WBITS
        self._inflater = self._zlib.decompressobj(self._wbits)
        return self._inflater

    def _trailing(self) -> TrailingDataError:
        return TrailingDataError(f"trailing data after the end of the {self._name} stream")
