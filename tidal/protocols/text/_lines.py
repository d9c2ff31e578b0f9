"""Line splitting over text chunks, and the bytes -> lines pipeline.

Theory of operation (and why it is fast).  Lines are cut from whole chunks
with one C call, not character by character: the partial last line is
carried and prepended to the next chunk.  For ``\\n`` line ends kept on
each line (which is also what ``newline=None`` leaves after translation) we
call ``str.splitlines()``, which keeps line ends and allocates each line once.
It also breaks on ``\\r``, ``\\v``, ``\\f``, ``\\x1c-\\x1e``, ``\\x85``,
``\\u2028`` and ``\\u2029``, which io.TextIOWrapper does not treat as line
ends, so it is used only when the chunk holds none of them; otherwise we fall
back to ``str.split("\\n")`` plus one concatenation per line.  The test is
one ``in`` per such character: CPython finds a single character with
``memchr`` (a few instructions per 32 bytes), while checking the break count
with ``str.count("\\n")`` walks the text one character at a time and cost
more than a tenth of the whole gzip -> lines pipeline on non-ASCII text.  Other modes split on their separator the same way.
In ``newline=""`` mode a chunk ending in ``\\r`` keeps its last line back,
since a ``\\n`` may start the next chunk.

When the optional C module ``_speedups.c`` is built (``pip install`` with
a compiler present), ``\n`` splitting is its ``split_newlines``: it finds
each ``\n`` with ``memchr`` instead of comparing every character, and keeps
the line end inside each line's one substring, so the check for other break
characters is not needed either; about 240 instructions less per line of a
typical log.  ``python_split_lf`` is the same cut in Python.

The line-length limit is checked per chunk in O(1) when the chunk is
shorter than the limit (no line inside it can be longer); only longer chunks
measure their lines.  The carried partial line is checked on every call, so
the buffer stays bounded even if no line end ever comes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from ._decoder import NEWLINE_MODES, TextDecoder
from ._errors import LineTooLongError, TextUsageError

__all__ = ["LineSplitter", "LineDecoder", "DEFAULT_MAX_LINE_LENGTH"]

DEFAULT_MAX_LINE_LENGTH = 1024 * 1024
_UNIVERSAL_BREAK = re.compile("(\r\n|\r|\n)")
# What str.splitlines() breaks on besides \n: \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029.
_ASCII_OTHER_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
_OTHER_BREAKS = (*_ASCII_OTHER_BREAKS, "\x85", "\u2028", "\u2029")


def _has_other_breaks(text: str) -> bool:
    """True when ``text`` holds a character that splitlines() breaks on, other than ``\\n``."""
    # isascii() is O(1) (a flag of the string), and spares three searches.
    for char in _ASCII_OTHER_BREAKS if text.isascii() else _OTHER_BREAKS:
        if char in text:
            return True
    return False


def python_split_lf(text: str, keepends: bool) -> tuple[list[str], str]:
    """``text`` cut after each ``\\n``: the complete lines (ends kept if ``keepends``) and the rest.

    The Python version of the optional C ``split_newlines`` (``_speedups.c``).
    """
    if not keepends or _has_other_breaks(text):
        # splitlines() would also break there (and, without ends, a trailing
        # \v, \x1c ... would vanish with it).
        parts = text.split("\n")
        carry = parts.pop()
        return ([part + "\n" for part in parts] if keepends else parts), carry
    lines = text.splitlines(True)
    if text.endswith("\n") or not text:
        return lines, ""
    return lines, lines.pop()


_split_newlines: Callable[[str, bool], list[str]] | None = None
if not os.environ.get("TIDAL_NO_SPEEDUPS"):  # see tidal/streams/_queue_iter.py
    try:
        from ._speedups import split_newlines as _split_newlines
    except ImportError:  # not built: the Python version
        pass


class LineSplitter:
    """Split a stream of text chunks into lines.

    ``newline`` selects line ends as :class:`io.TextIOWrapper` does when
    reading: ``None`` (any of ``\\r\\n``, ``\\r``, ``\\n``, each translated to
    ``\\n``), ``""`` (any of them, kept as they are), or exactly ``"\\n"``,
    ``"\\r"`` or ``"\\r\\n"``.  ``keepends`` keeps the line end on each line
    (as iterating a file does).  A line longer than ``max_line_length``
    characters (line end excluded; ``None`` = unlimited) raises
    :class:`LineTooLongError` naming its line number and the limit.
    """

    def __init__(
        self,
        newline: str | None = None,
        *,
        max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
        keepends: bool = True,
    ) -> None:
        if newline not in NEWLINE_MODES:
            raise ValueError(f"illegal newline value: {newline!r}")
        if max_line_length is not None and max_line_length < 1:
            raise ValueError(f"max_line_length must be positive or None, not {max_line_length}")
        self._newline = newline
        self._translate = newline is None
        self._max = max_line_length
        self._keepends = keepends
        # Line ends to strip when measuring a line kept with its end, longest first.
        self._ends: tuple[str, ...] = ("\r\n", "\r", "\n") if newline == "" else (newline or "\n",)
        self._carry = ""
        self._pending_cr = False  # newline=None: a chunk ended in \r
        self._lines = 0
        self._done = False
        self._failure: LineTooLongError | None = None

    @property
    def lines_returned(self) -> int:
        """How many complete lines have been returned so far."""
        return self._lines

    def feed(self, text: str) -> list[str]:
        """Return the lines completed by ``text``; the unfinished one is kept."""
        return self._split(text, final=False)

    def finish(self, text: str = "") -> list[str]:
        """Return the last lines, including an unterminated last line."""
        return self._split(text, final=True)

    @property
    def pending(self) -> str:
        """The unterminated text held back for the next line."""
        return self._carry

    def take_pending(self) -> str:
        """Remove and return the unterminated text held back.

        For callers that switch from reading lines to reading characters: the
        returned text comes before anything fed later.  (With
        ``newline=None``, a ``\r`` held back to see whether ``\n`` follows
        stays held: it belongs after the returned text.)
        """
        carry, self._carry = self._carry, ""
        return carry

    def _split(self, text: str, final: bool) -> list[str]:
        if self._done or self._failure is not None:
            raise self._usage_error()
        self._done = final
        if self._translate and (self._pending_cr or "\r" in text):
            text = self._translate_newlines(text, final)
        carry, newline = self._carry, self._newline
        if newline is None or newline == "\n":
            # The carry holds no \n, so it only extends the chunk's first line: join
            # it to that line rather than copy the whole chunk behind it.
            lines, self._carry = self._split_lf(text)
            if carry and lines:
                lines[0] = carry + lines[0]
            elif carry:
                self._carry = carry + self._carry
        elif newline == "":
            lines, self._carry = self._split_universal(carry + text, final)
        else:
            lines, self._carry = self._split_on(carry + text, newline)
        if final and self._carry:
            lines.append(self._carry)
            self._carry = ""
        self._check_lengths(lines, len(carry) + len(text))
        self._lines += len(lines)
        return lines

    def _translate_newlines(self, text: str, final: bool) -> str:
        if self._pending_cr:
            text = "\r" + text
            self._pending_cr = False
        if not final and text.endswith("\r"):
            text = text[:-1]
            self._pending_cr = True
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _split_lf(self, text: str) -> tuple[list[str], str]:
        if _split_newlines is not None:  # the optional C splitter: memchr per line
            lines = _split_newlines(text, self._keepends)
            return lines, lines.pop()
        return python_split_lf(text, self._keepends)

    def _split_on(self, text: str, separator: str) -> tuple[list[str], str]:
        parts = text.split(separator)
        carry = parts.pop()
        if self._keepends:
            parts = [part + separator for part in parts]
        return parts, carry

    def _split_universal(self, text: str, final: bool) -> tuple[list[str], str]:
        pieces = _UNIVERSAL_BREAK.split(text)
        carry = pieces.pop()
        if not final and not carry and pieces and pieces[-1] == "\r":
            carry = pieces.pop(-2) + pieces.pop()  # wait: a \n may follow
        contents, ends = pieces[0::2], pieces[1::2]
        lines = [c + e for c, e in zip(contents, ends)] if self._keepends else contents
        return lines, carry

    def _check_lengths(self, lines: list[str], text_length: int) -> None:
        limit = self._max
        if limit is None:
            return
        if text_length > limit and lines and max(map(len, lines)) > limit:
            for index, line in enumerate(lines):
                length = self._content_length(line)
                if length > limit:
                    self._fail(self._lines + index + 1, f"{length} characters", lines[:index])
        if len(self._carry) > limit + 1:  # +1: the carry may end in a lone \r
            carried = len(self._carry)
            self._fail(self._lines + len(lines) + 1, f"{carried} characters and no line end yet", lines)

    def _content_length(self, line: str) -> int:
        if self._keepends:
            for end in self._ends:
                if line.endswith(end):
                    return len(line) - len(end)
        return len(line)

    def _fail(self, line_number: int, measured: str, complete_lines: list[str]) -> None:
        self._carry = ""
        self._failure = LineTooLongError(
            f"line {line_number} exceeds max_line_length={self._max}: {measured}",
            line_number=line_number,
            limit=self._max or 0,
            complete_lines=complete_lines,
        )
        raise self._failure

    def _usage_error(self) -> TextUsageError:
        if self._failure is not None:
            return TextUsageError(f"feed() after the line splitter failed: {self._failure}")
        return TextUsageError("feed() after finish()")


class LineDecoder:
    """Bytes in, lines out: a :class:`TextDecoder` feeding a :class:`LineSplitter`.

    ``feed(data) -> list[str]`` returns the lines completed so far;
    ``finish() -> list[str]`` flushes the decoder and returns the rest
    (raising :class:`InvalidTextError` if the bytes end mid-character under
    ``errors="strict"``).  Arguments are those of the two parts; lines keep
    their ends (translated to ``\\n`` when ``newline=None``) unless
    ``keepends=False``.
    """

    def __init__(
        self,
        encoding: str | None = None,
        errors: str = "strict",
        newline: str | None = None,
        *,
        max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
        keepends: bool = True,
        default_encoding: str = "utf-8",
    ) -> None:
        self._decoder = TextDecoder(encoding, errors, newline, default_encoding=default_encoding)
        # The decoder already translated newline=None text, so split on "\n" only.
        split_on = "\n" if newline is None else newline
        self._splitter = LineSplitter(split_on, max_line_length=max_line_length, keepends=keepends)

    @property
    def encoding(self) -> str | None:
        """The encoding in use, or None while a BOM may still be forming."""
        return self._decoder.encoding

    def feed(self, data: bytes | bytearray | memoryview, final: bool = False) -> list[str]:
        """Decode ``data`` and return the lines it completes; ``final=True`` is :meth:`finish`."""
        if final:
            return self._splitter.finish(self._decoder.decode(data, final=True))
        return self._splitter.feed(self._decoder.decode(data))

    def finish(self) -> list[str]:
        """End of input: return the remaining lines, the unterminated one last."""
        return self._splitter.finish(self._decoder.decode(b"", final=True))
