"""TextStream: text lines and characters over any byte stream, driven by ``protocols.text``.

Theory of operation
-------------------
Reading: bytes come from the wrapped stream one chunk at a time; a
:class:`~tidal.protocols.text.TextDecoder` turns them into text (charset,
BOM, universal newlines, multibyte characters cut across chunks) and a
:class:`~tidal.protocols.text.LineSplitter` cuts whole chunks into lines
with one C call.  Complete lines wait in a deque; ``async for`` hands them
out from an async generator without awaiting anything, so iterating costs
about as much per line as iterating a list.  ``read(n)`` counts characters:
it takes the queued lines and the splitter's unterminated text back as plain
text, and what it does not return is split into lines again only if a line
read follows.  Everything read is held by the stream, never by a suspended
call, so a cancelled read loses nothing.

Fairness: before each receive from the wrapped stream the reader yields to
the event loop once.  A stream whose receives complete without waiting (a
file read ahead by a worker thread, a decompressor holding a bomb's output, a
fast socket) would otherwise let one ``async for`` run for as long as data
lasts while timers and other connections starve.

Writing: text is translated (``newline``), encoded incrementally and kept in a
bounded buffer (``write_buffer_size``) that ``flush()``, ``send_eof()`` and
``aclose()`` send; a full buffer is sent by the ``write()`` that filled it.

Errors: bytes invalid in the encoding raise :class:`StreamBroken` chained to
:class:`~tidal.protocols.text.InvalidTextError` (which carries the absolute
byte ``offset``); a line longer than ``max_line_length`` raises
:class:`StreamLimitExceeded` (``limit_name="max_line_length"``) once the
lines before it have been read.  Either breaks the reading side.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from tidal.protocols.text import (
    DEFAULT_MAX_LINE_LENGTH,
    InvalidTextError,
    LineSplitter,
    LineTooLongError,
    TextDecoder,
)
from tidal.protocols.text._charset import lookup_text_encoding
from tidal.protocols.text._decoder import NEWLINE_MODES

from ._abc import AsyncResource, ConflictGuard, ReceiveStream, SendStream
from ._errors import StreamBroken, StreamClosed, StreamLimitExceeded
from ._queue_iter import iterate_queue

__all__ = ["TextStream", "DEFAULT_TEXT_READ_SIZE"]

#: Bytes asked of the wrapped stream per receive.
DEFAULT_TEXT_READ_SIZE = 65536


class TextStream(AsyncResource):
    """Text over a byte stream: ``async for line in``, ``read(n)``, ``readline()``, ``write()``.

    ``stream`` is any :class:`ReceiveStream` (to read), :class:`SendStream`
    (to write) or both.  ``encoding``: a declared charset, or None to read a
    UTF-8/16/32 byte order mark and otherwise use ``default_encoding``
    (written text uses ``default_encoding`` when None).  ``errors``: a codec
    error handler; under ``"strict"`` invalid bytes raise
    :class:`StreamBroken` with the byte offset.  ``newline`` works as in
    :func:`open`: when reading, None translates ``\\r\\n`` and ``\\r`` to
    ``\\n`` and the other values keep text as it is (``""``: any of the three
    ends a line); when writing, None writes ``os.linesep``, ``""``/``"\\n"``
    write ``\\n``, and ``"\\r"``/``"\\r\\n"`` replace every ``\\n``.  A line
    longer than ``max_line_length`` characters (None: no limit) raises
    :class:`StreamLimitExceeded`.
    """

    def __init__(
        self,
        stream: ReceiveStream | SendStream,
        encoding: str | None = None,
        errors: str = "strict",
        newline: str | None = None,
        *,
        max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
        read_size: int = DEFAULT_TEXT_READ_SIZE,
        write_buffer_size: int = 65536,
        default_encoding: str = "utf-8",
    ) -> None:
        if newline not in NEWLINE_MODES:
            raise ValueError(f"illegal newline value: {newline!r}")
        if read_size < 1 or write_buffer_size < 0:
            raise ValueError("read_size must be positive and write_buffer_size not negative")
        self._stream = stream
        self._errors = errors
        self._newline = newline
        self._read_size = read_size
        self._closed = False
        self._receive_guard = ConflictGuard("another task is already reading this text stream")
        self._send_guard = ConflictGuard("another task is already writing this text stream")
        # Reading: decoded text is, in stream order, _text[_pos:], then _lines, then
        # the splitter's pending text.  _text is only non-empty after read(n).
        self._decoder = TextDecoder(encoding, errors, newline, default_encoding=default_encoding)
        self._split_mode = "\n" if newline is None else newline  # the decoder translates for None
        self._splitter = LineSplitter(self._split_mode, max_line_length=max_line_length)
        self._lines: deque[str] = deque()
        self._text = ""
        self._pos = 0
        self._input_ended = False  # the decoder has seen the end of the bytes
        self._lines_ended = False  # the splitter has been finished
        self._deferred: StreamLimitExceeded | None = None  # raised once _lines drain
        self._read_broken: str | None = None
        # Writing.
        self._write_encoding = lookup_text_encoding(encoding or default_encoding)
        self._encoder: codecs.IncrementalEncoder | None = None
        self._write_buffer = bytearray()
        self._write_buffer_size = write_buffer_size
        self._write_broken: str | None = None
        self._eof_sent = False

    # -- properties ------------------------------------------------------------------

    @property
    def wrapped_stream(self) -> ReceiveStream | SendStream:
        """The byte stream this text stream reads from or writes to."""
        return self._stream

    @property
    def encoding(self) -> str | None:
        """Python's name for the encoding; None while a BOM may still be forming."""
        if isinstance(self._stream, ReceiveStream):
            return self._decoder.encoding
        return self._write_encoding

    @property
    def errors(self) -> str:
        """The codec error handler."""
        return self._errors

    @property
    def newline(self) -> str | None:
        """The newline mode."""
        return self._newline

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Answered by the wrapped stream."""
        return self._stream.get_extra_info(name, default)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} encoding={self.encoding!r} over {self._stream!r}{state}>"

    async def __aenter__(self) -> TextStream:
        """Enter the wrapped stream too, so ``async with tidal.open(...)`` opens the file here.

        An error opening it (``FileNotFoundError`` ...) is raised by the
        ``async with`` line itself, not by the first read.
        """
        await self._stream.__aenter__()
        return self

    # -- reading lines ---------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[str]:
        """``async for line in text``: every line, line end included, until EOF.

        Queued lines are handed out without an await (by the C iterator of
        ``_queue_iter`` when it is built); :meth:`readline` refills the queue.
        """
        return iterate_queue(self._lines, self._refill_lines)

    async def _refill_lines(self) -> bool:
        """Queue the next line for ``async for``; False at EOF (errors as :meth:`readline`)."""
        line = await self.readline()
        if not line:
            return False
        self._lines.appendleft(line)
        return True

    async def readline(self) -> str:
        """The next line including its end; at EOF an unterminated last line, then ``""``."""
        self._check_readable()
        with self._receive_guard:
            if self._pos < len(self._text):
                self._split_leftover_text()
            while not self._lines:
                if self._deferred is not None:
                    self._raise_deferred()
                if self._lines_ended:
                    return ""
                await self._fill_lines()
            return self._lines.popleft()

    async def readlines(self, hint: int = -1) -> list[str]:
        """A list of lines, as :meth:`io.IOBase.readlines`: stop once they exceed ``hint`` characters.

        With ``hint <= 0``, every line to EOF.  Otherwise lines are added
        until their total length exceeds ``hint`` (so at least one line,
        unless at EOF, which returns ``[]``).  Batches skip the per-line cost
        of ``async for``: ``while lines := await text.readlines(65536)`` is
        the fastest way through large input.
        """
        self._check_readable()
        with self._receive_guard:
            if self._pos < len(self._text):
                self._split_leftover_text()
            batch: list[str] = []
            total = 0
            while hint <= 0 or total <= hint:
                if self._lines:
                    total += self._take_lines(batch, hint - total if hint > 0 else None)
                    continue
                if self._deferred is not None and not batch:
                    self._raise_deferred()
                if self._lines_ended or self._deferred is not None:
                    break
                try:
                    await self._fill_lines()
                except BaseException:
                    self._lines.extendleft(reversed(batch))  # a cancelled call loses nothing
                    raise
            return batch

    def _take_lines(self, batch: list[str], wanted: int | None) -> int:
        """Move queued lines to ``batch`` until they total more than ``wanted`` characters; return their length."""
        lines = self._lines
        # Measuring costs at most `wanted` line lengths (each line has >= 1 character),
        # and each call consumes at least `wanted` characters: linear overall.
        size = sum(map(len, lines)) if wanted is None or len(lines) <= wanted else None
        if size is not None and (wanted is None or size <= wanted):
            batch += lines  # the common case: whole chunks' worth, at C speed
            lines.clear()
            return size
        assert wanted is not None
        taken = 0
        while taken <= wanted:
            line = lines.popleft()
            batch.append(line)
            taken += len(line)
        return taken

    async def _fill_lines(self) -> None:
        if self._input_ended:
            text, at_end = "", True
        else:
            text, at_end = await self._receive_text()
        try:
            lines = self._splitter.finish(text) if at_end else self._splitter.feed(text)
        except LineTooLongError as error:
            self._lines.extend(error.complete_lines)
            self._defer_limit_error(error)
            return
        self._lines_ended = at_end
        self._lines.extend(lines)

    def _split_leftover_text(self) -> None:
        text, self._text, self._pos = self._text[self._pos :], "", 0
        if self._lines_ended:  # the splitter is finished: cut the rest on its own
            self._lines.extend(LineSplitter(self._split_mode, max_line_length=None).finish(text))
            return
        try:
            self._lines.extend(self._splitter.feed(text))
        except LineTooLongError as error:
            self._lines.extend(error.complete_lines)
            self._defer_limit_error(error)

    def _defer_limit_error(self, error: LineTooLongError) -> None:
        limit_error = StreamLimitExceeded(str(error), limit_name="max_line_length", limit=error.limit)
        limit_error.__cause__ = error
        self._deferred = limit_error

    def _raise_deferred(self) -> None:
        error, self._deferred = self._deferred, None
        assert error is not None
        self._read_broken = f"an earlier line was too long: {error}"
        raise error

    # -- reading characters ------------------------------------------------------------

    async def read(self, size: int | None = -1) -> str:
        """At most ``size`` characters (fewer only at EOF); ``-1``/None: everything to EOF.

        Returns ``""`` at EOF.  Reading everything holds the whole rest of
        the text in memory; prefer ``async for`` or ``read(n)`` for large input.
        """
        self._check_readable()
        with self._receive_guard:
            want = None if size is None or size < 0 else size
            if want is not None and len(self._text) - self._pos >= want:
                start = self._pos  # the common case for small reads: no copy of the rest
                self._pos += want
                return self._text[start : self._pos]
            parts = [self._take_buffered()]
            if self._deferred is not None and not parts[0]:
                self._raise_deferred()
            have = len(parts[0])
            try:
                while (want is None or have < want) and not self._input_ended and self._deferred is None:
                    text, _ = await self._receive_text()
                    parts.append(text)
                    have += len(text)
            except BaseException:
                self._text, self._pos = "".join(parts), 0  # a cancelled or failed read loses nothing
                raise
            text = "".join(parts)
            end = len(text) if want is None else min(want, len(text))
            self._text, self._pos = text, end
            return text[:end]

    def _take_buffered(self) -> str:
        """All decoded, unread text, in order, out of the line machinery."""
        parts = [self._text[self._pos :], *self._lines]
        if not self._lines_ended and self._deferred is None:
            parts.append(self._splitter.take_pending())
        self._lines.clear()
        self._text, self._pos = "", 0
        return "".join(parts)

    async def _receive_text(self) -> tuple[str, bool]:
        """Decode the next chunk of the wrapped stream: ``(text, reached the end)``."""
        await asyncio.sleep(0)  # fairness; see the module docstring
        # receive_some(), not receive_into(): decompressing and file streams hand over
        # the bytes they hold without a copy, and Python's incremental decoders copy
        # anything that is not bytes (b"" + memoryview) before decoding it.
        data = await self._receiver().receive_some(self._read_size)
        try:
            text = self._decoder.decode(data, final=not data)
        except InvalidTextError as error:
            self._read_broken = f"the text is not valid {error.encoding}: {error}"
            raise StreamBroken(self._read_broken) from error
        self._input_ended = not data
        return text, not data

    def _receiver(self) -> ReceiveStream:
        stream = self._stream
        assert isinstance(stream, ReceiveStream)
        return stream

    def _check_readable(self) -> None:
        if self._closed:
            raise StreamClosed("the text stream was closed")
        if not isinstance(self._stream, ReceiveStream):
            raise TypeError(f"{type(self._stream).__name__} is send-only; this text stream cannot read")
        if self._read_broken is not None:
            raise StreamBroken(self._read_broken)

    # -- writing -----------------------------------------------------------------------

    async def write(self, text: str) -> None:
        """Encode ``text`` into the write buffer; send the buffer once it is full.

        A character the encoding cannot represent raises
        :class:`UnicodeEncodeError` (under ``errors="strict"``) and nothing of
        ``text`` is written.
        """
        self._check_writable()
        with self._send_guard:
            self._write_buffer += self._encode(text)
            if len(self._write_buffer) >= self._write_buffer_size:
                await self._send_buffer()

    async def flush(self) -> None:
        """Send everything written so far to the wrapped stream."""
        self._check_writable()
        with self._send_guard:
            await self._send_buffer()

    async def send_eof(self) -> None:
        """Flush, then half-close the wrapped stream (a compressor writes its trailer); idempotent."""
        self._check_writable(eof_ok=True)
        with self._send_guard:
            if self._eof_sent:
                return
            await self._send_buffer()
            self._eof_sent = True
            send_eof = getattr(self._stream, "send_eof", None)
            if send_eof is not None:
                await send_eof()

    def _encode(self, text: str) -> bytes:
        newline = self._newline
        if newline is None and os.linesep != "\n":
            text = text.replace("\n", os.linesep)
        elif newline in ("\r", "\r\n"):
            text = text.replace("\n", newline)
        if self._encoder is None:
            self._encoder = codecs.getincrementalencoder(self._write_encoding)(self._errors)
        return self._encoder.encode(text)

    async def _send_buffer(self) -> None:
        if not self._write_buffer:
            return
        data = bytes(self._write_buffer)
        self._write_buffer.clear()
        stream = self._stream
        assert isinstance(stream, SendStream)
        try:
            await stream.send_all(data)
        except BaseException:
            self._write_broken = "an earlier write was interrupted or failed; the written text is incomplete"
            raise

    def _check_writable(self, eof_ok: bool = False) -> None:
        if self._closed:
            raise StreamClosed("the text stream was closed")
        if not isinstance(self._stream, SendStream):
            raise TypeError(f"{type(self._stream).__name__} is receive-only; this text stream cannot write")
        if self._write_broken is not None:
            raise StreamBroken(self._write_broken)
        if self._eof_sent and not eof_ok:
            raise StreamClosed("send_eof() was called; this text stream cannot write any more")

    # -- closing -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send buffered text (if the writing side is intact), then close the wrapped stream.

        Always closes, even when cancelled or when the final flush fails; a
        failed flush is then raised.
        """
        if self._closed:
            return
        self._closed = True
        self._lines.clear()
        self._text = ""
        try:
            if self._write_buffer and self._write_broken is None and not self._send_guard.held:
                await self._send_buffer()
        except StreamClosed:
            pass  # the wrapped stream was closed under us: nothing left to write to
        finally:
            self._write_buffer.clear()
            await self._stream.aclose()
