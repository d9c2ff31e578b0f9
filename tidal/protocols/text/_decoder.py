"""Incremental bytes -> str decoding with BOM handling and universal newlines.

Theory of operation.  Bytes go to one of Python's incremental codec decoders
(C-accelerated for UTF-8, Latin-1 and friends), which already keeps an
unfinished multibyte character for the next call.  We add what they lack:

* the encoding choice (declared, BOM, fallback; see ``_charset``), which may
  have to wait for up to four bytes before a BOM can be told apart;
* the *absolute* byte offset of an invalid byte.  A codec's error position is
  relative to its own buffered bytes plus this call's input, so the offset is
  ``bytes handed over before this call - bytes still buffered + error.start``;
* newline translation for ``newline=None`` (``\\r\\n`` and ``\\r`` become
  ``\\n``), done with two ``str.replace`` calls and only when the chunk holds
  a ``\\r``.  A chunk ending in ``\\r`` keeps it back until the next chunk
  (or the end) shows whether a ``\\n`` follows, as io.IncrementalNewlineDecoder.
"""

from __future__ import annotations

import codecs

from ._charset import BOMS, lookup_text_encoding, sniff_bom
from ._errors import InvalidTextError, TextUsageError

__all__ = ["TextDecoder", "NEWLINE_MODES"]

NEWLINE_MODES = (None, "", "\n", "\r", "\r\n")


class TextDecoder:
    """Decode a byte stream to text chunk by chunk, whatever the chunk boundaries.

    ``encoding``: a declared charset (e.g. from
    :func:`charset_from_content_type`), or None to sniff a UTF-8/16/32 BOM
    and else use ``default_encoding``.  ``errors``: any codec error handler
    (``"strict"``, ``"replace"``, ``"ignore"``, ``"surrogateescape"``...);
    under ``"strict"`` bad bytes raise :class:`InvalidTextError` with their
    absolute byte offset.  ``newline``: as :class:`io.TextIOWrapper` when
    reading: ``None`` translates ``\\r\\n`` and ``\\r`` to ``\\n``; ``""``,
    ``"\\n"``, ``"\\r"`` and ``"\\r\\n"`` leave the text untouched.
    """

    def __init__(
        self,
        encoding: str | None = None,
        errors: str = "strict",
        newline: str | None = None,
        *,
        default_encoding: str = "utf-8",
    ) -> None:
        if newline not in NEWLINE_MODES:
            raise ValueError(f"illegal newline value: {newline!r}")
        codecs.lookup_error(errors)  # LookupError now rather than mid-stream
        self._declared = lookup_text_encoding(encoding) if encoding is not None else None
        self._default = lookup_text_encoding(default_encoding)
        self._errors = errors
        self._translate = newline is None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._encoding: str | None = None
        self._head = b""  # bytes held while a BOM may still be forming
        self._handed = 0  # bytes given to the codec decoder, BOM included
        self._pending_cr = False
        self._done = False
        self._failure: InvalidTextError | None = None

    @property
    def encoding(self) -> str | None:
        """The encoding in use (Python's name), or None while a BOM may still be forming."""
        return self._encoding

    def decode(self, data: bytes | bytearray | memoryview, final: bool = False) -> str:
        """Decode ``data`` (any bytes-like object, not kept); ``final=True`` flushes and ends the stream."""
        if self._done or self._failure is not None:
            raise self._usage_error()
        decoder = self._decoder
        if decoder is None:
            data = self._choose_encoding(data, final)
            decoder = self._decoder
            if decoder is None:
                return ""
        try:
            text = decoder.decode(data, final)
        except UnicodeDecodeError as error:
            self._failure = self._invalid(error, decoder)
            raise self._failure from None
        self._handed += len(data)
        self._done = final
        if self._translate and (self._pending_cr or "\r" in text):
            text = self._translate_newlines(text, final)
        return text

    def _translate_newlines(self, text: str, final: bool) -> str:
        if self._pending_cr:
            text = "\r" + text
            self._pending_cr = False
        if not final and text.endswith("\r"):
            text = text[:-1]
            self._pending_cr = True
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _choose_encoding(self, data: bytes | bytearray | memoryview, final: bool) -> bytes:
        head = self._head + bytes(data)
        candidates = BOMS if self._declared is None else tuple(b for b in BOMS if b[1] == self._declared)
        verdict = sniff_bom(head, final, candidates)
        if verdict is None:
            self._head = head
            return b""
        found, bom_length = verdict
        self._encoding = found or self._declared or self._default
        self._decoder = codecs.getincrementaldecoder(self._encoding)(self._errors)
        self._head = b""
        self._handed = bom_length
        return head[bom_length:]

    def _invalid(self, error: UnicodeDecodeError, decoder: codecs.IncrementalDecoder) -> InvalidTextError:
        buffered = len(decoder.getstate()[0])
        offset = self._handed - buffered + error.start
        bad = error.object[error.start : error.end].hex(" ")
        return InvalidTextError(
            f"invalid {self._encoding} data at byte offset {offset}: {error.reason} ({bad})",
            encoding=str(self._encoding),
            offset=offset,
            reason=error.reason,
        )

    def _usage_error(self) -> TextUsageError:
        if self._failure is not None:
            return TextUsageError(f"decode() after the decoder failed: {self._failure}")
        return TextUsageError("decode() after decode(..., final=True)")
