"""Exceptions raised by the text engine.

Bytes that do not decode, and lines longer than the limit, are the peer's
doing: :class:`InvalidTextError` and :class:`LineTooLongError` are
:class:`~tidal.protocols.RemoteProtocolError` subclasses.  An unknown
encoding name or a call after a failure is the caller's:
:class:`UnknownEncodingError` and :class:`TextUsageError` are local.
"""

from __future__ import annotations

from .._errors import LocalProtocolError, ProtocolError, RemoteProtocolError

__all__ = ["TextError", "InvalidTextError", "LineTooLongError", "UnknownEncodingError", "TextUsageError"]


class TextError(ProtocolError):
    """Base class of every error raised by :mod:`tidal.protocols.text`."""


class InvalidTextError(TextError, RemoteProtocolError):
    """Bytes invalid in the encoding, under ``errors="strict"``.

    ``offset`` is the absolute position of the first bad byte in the whole
    byte stream (BOM included), whatever the chunking.
    """

    def __init__(self, message: str, *, encoding: str, offset: int, reason: str) -> None:
        super().__init__(message)
        self.encoding = encoding
        self.offset = offset
        self.reason = reason


class LineTooLongError(TextError, RemoteProtocolError):
    """A line (terminator excluded) longer than ``max_line_length`` characters.

    ``line_number`` counts from 1 over the whole stream.  ``complete_lines``
    holds the lines the failing call had completed before the long one, so a
    caller can still deliver them before reporting the error.
    """

    def __init__(self, message: str, *, line_number: int, limit: int, complete_lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.line_number = line_number
        self.limit = limit
        self.complete_lines: list[str] = complete_lines or []


class UnknownEncodingError(TextError, LocalProtocolError, LookupError):
    """The encoding name is unknown to Python or is not a text encoding (``base64``...)."""


class TextUsageError(TextError, LocalProtocolError):
    """The engine was used after ``final``/``finish()`` or after it failed."""
