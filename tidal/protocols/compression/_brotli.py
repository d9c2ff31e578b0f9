"""Brotli (RFC 7932) stage, available when the ``brotli`` package is installed.

brotli >= 1.2 bounds output with ``process(data, output_buffer_limit=...)``;
after a bounded call the decoder must be called with empty input until it
reports ``can_accept_more_data()``.  The library fails the same way on
corrupt data and on bytes after the end of the stream, and only when both
reach it in one call can it not tell which: every byte after the end is
therefore reported as :class:`CorruptStreamError` ("corrupt or followed by
trailing data"), so the error type does not depend on how the input was
split.  A failing call loses the output it had produced (the decoder cannot
be copied to replay it), so for ``br`` the output before a fault may be
shorter, by at most one call's output (``max_length``), under some splits.  Its buffer grows in steps, so a call may
return somewhat more than the limit: the excess is kept here and handed out
first, keeping every :meth:`pull` within ``max_length``.  Input is fed in
slices so the consumed-input count (used by the ratio limit) stays accurate.
"""

from __future__ import annotations

from typing import Any

from ._errors import CorruptStreamError, TruncatedStreamError
from ._stage import Stage

__all__ = ["BrotliStage"]

_INPUT_SLICE = 16 * 1024
_CORRUPT_OR_TRAILING = "br data is corrupt or followed by trailing data"


def _trailing_data() -> CorruptStreamError:
    # Not TrailingDataError: see the module docstring.
    return CorruptStreamError(f"{_CORRUPT_OR_TRAILING} (bytes after the end of the stream)")


class BrotliStage(Stage):
    """Decode one brotli stream (internal)."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._decoder = module.Decompressor()
        self._pending = b""
        self._spill = b""
        self._consumed = 0
        self._more_output = False

    def push(self, data: bytes) -> None:
        """Queue compressed bytes."""
        if data and self._decoder.is_finished() and not self._spill:
            raise _trailing_data()
        self._pending = self._pending + data if self._pending else data

    def pull(self, max_length: int) -> bytes:
        """Decode up to ``max_length`` bytes."""
        if self._spill:
            return self._take_spill(max_length)
        decoder = self._decoder
        while True:
            chunk = b""
            if self._more_output or not decoder.can_accept_more_data():
                pass  # drain call: brotli requires empty input here
            elif decoder.is_finished():
                if self._pending:
                    raise _trailing_data()
                return b""
            elif not self._pending:
                return b""
            else:
                chunk, self._pending = self._pending[:_INPUT_SLICE], self._pending[_INPUT_SLICE:]
                self._consumed += len(chunk)
            try:
                out = decoder.process(chunk, output_buffer_limit=max_length)
            except self._module.error as error:
                raise CorruptStreamError(f"{_CORRUPT_OR_TRAILING} ({error})") from None
            # can_accept_more_data() may be true with output still inside brotli;
            # a full buffer is the only sign, so drain until a call comes up short.
            self._more_output = len(out) >= max_length
            if out:
                self._spill = out
                return self._take_spill(max_length)
            if not chunk:
                return b""

    @property
    def needs_input(self) -> bool:
        """True when all queued input has been decoded and returned."""
        if self._spill or self._pending or self._more_output:
            return False
        return self._decoder.is_finished() or bool(self._decoder.can_accept_more_data())

    @property
    def pending_input(self) -> int:
        """Queued bytes not handed to brotli yet."""
        return len(self._pending)

    def finish(self) -> None:
        """Raise :class:`TruncatedStreamError` unless the brotli stream ended."""
        if not self._decoder.is_finished():
            raise TruncatedStreamError(
                f"br stream truncated: input ended after {self._consumed} bytes, before the end of the compressed data"
            )

    def _take_spill(self, max_length: int) -> bytes:
        out, self._spill = self._spill[:max_length], self._spill[max_length:]
        return out
