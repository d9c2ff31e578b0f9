"""Two-byte length framing of DNS messages over TCP (RFC 1035 §4.2.2, RFC 7766 §8).

The decoder is fed whatever the stream delivers and hands back whole
messages; it keeps one bounded buffer and scans each byte once, compacting
the buffer once per :meth:`TCPFrameDecoder.feed` rather than once per
message, so many small messages in one read stay linear.
"""

from __future__ import annotations

from typing import NoReturn

from ._errors import BadQuery, BadResponse
from ._message import MAX_MESSAGE_SIZE

__all__ = ["frame_message", "TCPFrameDecoder"]

_HEADER_SIZE = 12


def frame_message(wire: bytes) -> bytes:
    """Prefix ``wire`` with its 16-bit big-endian length for TCP."""
    if len(wire) > MAX_MESSAGE_SIZE:
        raise BadQuery(f"message of {len(wire)} bytes cannot be framed; the limit is {MAX_MESSAGE_SIZE}")
    return len(wire).to_bytes(2, "big") + wire


class TCPFrameDecoder:
    """Splits a TCP byte stream into DNS messages.

    ``feed(data)`` returns the messages completed by ``data``; ``feed(b"")``
    signals EOF and raises :class:`BadResponse` if a message was cut short.
    A declared length above ``max_message_size`` or below the 12-byte header
    is refused as soon as the two length bytes arrive, before any buffering.
    After an error every later call raises the same error.
    """

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        if not _HEADER_SIZE <= max_message_size <= MAX_MESSAGE_SIZE:
            raise BadQuery(f"max_message_size {max_message_size} is outside {_HEADER_SIZE}..{MAX_MESSAGE_SIZE}")
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._error: BadResponse | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data`` (``b""`` = EOF) and return the messages it completed."""
        if self._error is not None:
            raise BadResponse(str(self._error))
        if self._closed:
            raise BadQuery("data fed to a TCP frame decoder after EOF")
        if not data:
            self._closed = True
            return self._finish()
        self._buffer += data
        return self._split()

    def _split(self) -> list[bytes]:
        buffer, position, messages = self._buffer, 0, []
        while len(buffer) - position >= 2:
            length = (buffer[position] << 8) | buffer[position + 1]
            self._check_length(length)
            end = position + 2 + length
            if end > len(buffer):
                break
            messages.append(bytes(buffer[position + 2 : end]))
            position = end
        del buffer[:position]
        return messages

    def _check_length(self, length: int) -> None:
        if length > self.max_message_size:
            self._fail(f"TCP message of {length} bytes exceeds the {self.max_message_size}-byte limit")
        if length < _HEADER_SIZE:
            self._fail(f"TCP message of {length} bytes is shorter than the 12-byte DNS header")

    def _finish(self) -> list[bytes]:
        if self._buffer:
            self._fail(f"connection closed with {len(self._buffer)} bytes of an incomplete message")
        return []

    def _fail(self, message: str) -> NoReturn:
        self._error = BadResponse(message)
        raise self._error
