"""Strict validation of a chunked body before h11 reads it (RFC 9112 §7.1).

h11 accepts up to 20 hex digits of chunk size, any byte (NUL, bare CR)
inside chunk extensions and bare-LF trailer lines.  :class:`ChunkedScanner`
walks the same bytes first, one framing unit at a time (size line, data,
CRLF after data, trailer section), and tells the connection how many bytes at
the front of its buffer are proven valid; only those are handed to h11.

Splits never change the outcome: a unit is judged only once it is complete
(or once it provably exceeds a limit), and when a violation follows valid
bytes in the same buffer, the valid prefix is released first and the error is
raised on the next call, so every split yields the same events, then the same
error.
"""

from __future__ import annotations

import re

from ._errors import HTTPRemoteProtocolError
from ._grammar import CHUNK_LINE_LENIENT, CHUNK_LINE_STRICT
from ._limits import HTTPLimits
from ._sections import SectionScanner

__all__ = ["ChunkedScanner", "MAX_CHUNK_SIZE_DIGITS", "MAX_CHUNK_SIZE"]

# 16 hex digits hold any 64-bit size; more is refused before int() runs.
MAX_CHUNK_SIZE_DIGITS = 16
# A size that wraps a signed 64-bit integer is refused too: a proxy in front of
# us that stores it in an int64 would frame the body differently.
MAX_CHUNK_SIZE = 2**63 - 1

_SIZE_LINE, _DATA, _DATA_END, _TRAILERS, _DONE = range(5)


class ChunkedScanner:
    """Validate one chunked body at the front of a receive buffer."""

    __slots__ = ("_phase", "_remaining", "_searched", "_total", "_limits", "_line_re", "_trailers")

    def __init__(self, limits: HTTPLimits, *, lenient_size_line: bool) -> None:
        self._phase = _SIZE_LINE
        self._remaining = 0  # data bytes left in the current chunk
        self._searched = 0  # bytes of the current size line already searched for LF
        self._total = 0  # data bytes announced so far
        self._limits = limits
        self._line_re: re.Pattern[bytes] = CHUNK_LINE_LENIENT if lenient_size_line else CHUNK_LINE_STRICT
        self._trailers: SectionScanner | None = None

    @property
    def done(self) -> bool:
        """True once the last chunk and the trailer section are validated."""
        return self._phase == _DONE

    def advance(self, buf: bytearray) -> int:
        """Return how many bytes at the front of ``buf`` are valid framing or data.

        The caller must remove exactly that many bytes from the front of
        ``buf`` before the next call.  Raises only when no valid byte precedes
        the violation.
        """
        offset = 0
        try:
            while (step := self._step(buf, offset)) > 0:
                offset += step
                if self._phase in (_TRAILERS, _DONE):
                    break  # the trailer section must start at the buffer front
        except HTTPRemoteProtocolError:
            if offset:
                return offset
            raise
        return offset

    def _step(self, buf: bytearray, offset: int) -> int:
        phase = self._phase
        if phase == _DATA:
            return self._take_data(len(buf) - offset)
        if phase == _DATA_END:
            return self._take_data_end(buf, offset)
        if phase == _SIZE_LINE:
            return self._take_size_line(buf, offset)
        if phase == _TRAILERS:
            return self._take_trailers(buf, offset)
        return 0

    def _take_data(self, available: int) -> int:
        take = min(self._remaining, available)
        self._remaining -= take
        if not self._remaining:
            self._phase = _DATA_END
        return take

    def _take_data_end(self, buf: bytearray, offset: int) -> int:
        available = len(buf) - offset
        for index, expected in enumerate(b"\r\n"[:available]):
            if buf[offset + index] != expected:
                raise HTTPRemoteProtocolError(
                    f"chunk data is followed by 0x{buf[offset + index]:02x} instead of CRLF"
                )
        if available < 2:
            return 0
        self._phase = _SIZE_LINE
        return 2

    def _take_size_line(self, buf: bytearray, offset: int) -> int:
        max_line = self._limits.max_chunk_line_bytes
        end = buf.find(b"\n", offset + self._searched, offset + max_line)
        if end < 0:
            available = len(buf) - offset
            if available >= max_line:
                raise HTTPRemoteProtocolError(f"chunk-size line exceeds the {max_line}-byte limit")
            self._searched = available
            return 0
        self._searched = 0
        match = self._line_re.fullmatch(buf, offset, end + 1)
        if match is None:
            line = bytes(buf[offset : end + 1])
            raise HTTPRemoteProtocolError(f"chunk-size line {chunk_line_problem(line)}: {line[:80]!r}")
        digits = match.end(1) - match.start(1)
        if digits > MAX_CHUNK_SIZE_DIGITS:
            raise HTTPRemoteProtocolError(
                f"chunk size of {digits} hex digits exceeds the {MAX_CHUNK_SIZE_DIGITS}-digit limit"
            )
        size = int(match[1], 16)
        if size > MAX_CHUNK_SIZE:
            raise HTTPRemoteProtocolError(f"chunk size 0x{size:x} exceeds the largest size, 2**63 - 1")
        self._accept_size(size)
        return end + 1 - offset

    def _accept_size(self, size: int) -> None:
        limit = self._limits.max_body_bytes
        if limit is not None and self._total + size > limit:
            raise HTTPRemoteProtocolError(
                f"chunked body of at least {self._total + size} bytes exceeds the {limit}-byte limit", status=413
            )
        self._total += size
        if size:
            self._remaining = size
            self._phase = _DATA
        else:
            self._phase = _TRAILERS
            self._trailers = SectionScanner(None, self._limits)

    def _take_trailers(self, buf: bytearray, offset: int) -> int:
        assert offset == 0 and self._trailers is not None, "trailers start at the buffer front"
        size = self._trailers.scan(buf)
        if size < 0:
            return 0
        self._phase = _DONE
        return size


def chunk_line_problem(line: bytes) -> str:
    """Say why ``line`` (a complete line, LF included) is not a chunk-size line."""
    if not line.endswith(b"\r\n"):
        return "ends in a bare LF (CRLF required)"
    content = line[:-2]
    bare_cr = content.find(b"\r")
    if bare_cr >= 0:
        return f"has a bare CR at byte {bare_cr}"
    nul = content.find(b"\x00")
    if nul >= 0:
        return f"has a NUL byte at byte {nul}"
    if not content[:1] or content[:1] not in b"0123456789abcdefABCDEF":
        return "does not start with a hexadecimal chunk size"
    return "has a malformed chunk extension"
