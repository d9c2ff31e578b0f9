"""Zstandard (RFC 8878) stage, available when the ``zstandard`` package is installed.

Theory of operation.  ``zstandard``'s decompression object has no output
bound: handed four bytes (an RLE block header and its byte) it returns 128 KiB,
so a 64 KiB input chunk could expand to 2 GiB in one call.  We therefore walk
the frame structure ourselves (RFC 8878 §3.1: frame header, 3-byte block
headers, optional checksum; skippable frames) and hand the library input only
up to the end of the current block.  No block decodes to more than 128 KiB
(RFC 8878 §3.1.1.2.4), so one library call never allocates more than that,
whatever the input.  Output beyond ``max_length`` is kept and handed out by
later pulls.  The window is limited to 8 MiB as RFC 9659 §3 recommends for
HTTP, so a frame header cannot make the decoder allocate gigabytes either.
Several frames may follow one another, like gzip members.
"""

from __future__ import annotations

from typing import Any

from ._errors import CorruptStreamError, DecompressionError, TrailingDataError, TruncatedStreamError
from ._stage import Stage

__all__ = ["ZstdStage", "MAX_WINDOW_SIZE"]

MAX_WINDOW_SIZE = 8 * 1024 * 1024
_FRAME_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
_DICT_ID_SIZES = (0, 1, 2, 4)
_FCS_SIZES = (0, 2, 4, 8)

# Structural elements of a zstd stream, in the order they are walked.
_MAGIC, _DESCRIPTOR, _HEADER_REST, _BLOCK_HEADER, _BLOCK_CONTENT = "magic", "fhd", "hdr", "bh", "bc"
_CHECKSUM, _SKIP_SIZE, _SKIP_CONTENT = "checksum", "skip-size", "skip"
_PARSED = (_MAGIC, _DESCRIPTOR, _BLOCK_HEADER, _SKIP_SIZE)  # elements whose bytes we inspect


class ZstdStage(Stage):
    """Decode a zstd stream of one or more frames (internal)."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._pending = b""
        self._spill = b""
        self._consumed = 0
        self._frame = 0
        self._decoder: Any = None
        self._has_checksum = False
        self._last_block = False
        self._start_element(_MAGIC, 4)

    def push(self, data: bytes) -> None:
        """Queue compressed bytes."""
        self._pending = self._pending + data if self._pending else data

    def pull(self, max_length: int) -> bytes:
        """Decode up to ``max_length`` bytes, one block per library call at most."""
        if self.fault is not None and not self._spill:
            raise self.fault
        # Only block content yields output; once some is waiting we still walk
        # the following headers and checksum, so needs_input turns true early.
        while self._pending and not (self._spill and self._element == _BLOCK_CONTENT):
            try:
                self._walk()
            except DecompressionError as error:
                if not self._spill:
                    raise
                self.fault, self._pending = error, b""  # raised once the output before it is taken
        out, self._spill = self._spill[:max_length], self._spill[max_length:]
        return out

    def _walk(self) -> None:
        piece = self._pending[: self._remaining]
        self._pending = self._pending[len(piece) :]
        self._consumed += len(piece)
        self._remaining -= len(piece)
        if self._element in _PARSED:
            self._bytes += piece
        if self._element not in (_MAGIC, _SKIP_SIZE, _SKIP_CONTENT):
            out = self._decode(piece)
            self._spill = self._spill + out if self._spill else out
        if self._remaining == 0:
            self._finish_element()

    @property
    def needs_input(self) -> bool:
        """True when all queued input has been decoded and returned."""
        return not self._pending and not self._spill and self.fault is None

    @property
    def pending_input(self) -> int:
        """Queued bytes not handed to the library yet."""
        return len(self._pending)

    def finish(self) -> None:
        """Raise :class:`TruncatedStreamError` unless the input ended between frames."""
        if self._element == _MAGIC and self._bytes and self._frame > 0:
            raise TrailingDataError(
                f"trailing garbage after zstd frame {self._frame}: {len(self._bytes)} bytes too short to be a frame"
            )
        if self._element != _MAGIC or self._bytes:
            raise TruncatedStreamError(
                f"zstd stream truncated: frame {self._frame} ended inside its {self._describe()}"
                f" (after {self._consumed} input bytes)"
            )

    def _start_element(self, element: str, size: int) -> None:
        self._element, self._remaining, self._bytes = element, size, b""

    def _finish_element(self) -> None:
        element, raw = self._element, self._bytes
        if element == _MAGIC:
            self._begin_frame(int.from_bytes(raw, "little"))
        elif element == _DESCRIPTOR:
            rest = self._header_rest_size(raw[0])
            if rest:
                self._start_element(_HEADER_REST, rest)
            else:
                self._start_element(_BLOCK_HEADER, 3)
        elif element == _HEADER_REST:
            self._start_element(_BLOCK_HEADER, 3)
        elif element == _BLOCK_HEADER:
            self._begin_block(int.from_bytes(raw, "little"))
        elif element == _BLOCK_CONTENT:
            self._end_block()
        elif element == _SKIP_SIZE:
            size = int.from_bytes(raw, "little")
            if size:
                self._start_element(_SKIP_CONTENT, size)
            else:
                self._start_element(_MAGIC, 4)
        else:  # checksum or skippable content: the frame is over
            self._start_element(_MAGIC, 4)

    def _begin_frame(self, magic: int) -> None:
        self._frame += 1
        if magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
            self._start_element(_SKIP_SIZE, 4)
            return
        if magic != _FRAME_MAGIC:
            found = magic.to_bytes(4, "little").hex(" ")
            if self._frame == 1:
                raise CorruptStreamError(f"not a zstd stream: starts with {found}, expected 28 b5 2f fd")
            raise TrailingDataError(f"trailing garbage after zstd frame {self._frame - 1}: {found} is not a frame")
        decompressor = self._module.ZstdDecompressor(max_window_size=MAX_WINDOW_SIZE)
        self._decoder = decompressor.decompressobj()
        self._decode(magic.to_bytes(4, "little"))  # a magic number alone yields no output
        self._start_element(_DESCRIPTOR, 1)

    def _header_rest_size(self, descriptor: int) -> int:
        self._has_checksum = bool(descriptor & 0x04)
        if descriptor & 0x08:
            raise CorruptStreamError(f"zstd frame {self._frame}: reserved frame header bit set")
        single_segment = bool(descriptor & 0x20)
        fcs = _FCS_SIZES[descriptor >> 6] or (1 if single_segment else 0)
        return (0 if single_segment else 1) + _DICT_ID_SIZES[descriptor & 0x03] + fcs

    def _begin_block(self, header: int) -> None:
        self._last_block = bool(header & 1)
        kind, size = (header >> 1) & 3, header >> 3
        if kind == 3:
            raise CorruptStreamError(f"zstd frame {self._frame}: reserved block type")
        content = 1 if kind == 1 else size
        if content:
            self._start_element(_BLOCK_CONTENT, content)
        else:
            self._end_block()

    def _end_block(self) -> None:
        if not self._last_block:
            self._start_element(_BLOCK_HEADER, 3)
        elif self._has_checksum:
            self._start_element(_CHECKSUM, 4)
        else:
            self._start_element(_MAGIC, 4)

    def _decode(self, piece: bytes) -> bytes:
        try:
            out: bytes = self._decoder.decompress(piece)
        except self._module.ZstdError as error:
            raise CorruptStreamError(f"zstd frame {self._frame} is corrupt: {error}") from None
        return out

    def _describe(self) -> str:
        return {
            _MAGIC: "magic number",
            _DESCRIPTOR: "frame header",
            _HEADER_REST: "frame header",
            _BLOCK_HEADER: "block header",
            _BLOCK_CONTENT: "block",
            _CHECKSUM: "checksum",
            _SKIP_SIZE: "skippable frame",
            _SKIP_CONTENT: "skippable frame",
        }[self._element]
