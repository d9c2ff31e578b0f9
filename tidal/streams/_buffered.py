"""BufferedStream: exact-size reads, delimiters and lines over any stream.

Theory of operation
-------------------
Every byte received from the wrapped stream goes into one ``bytearray``
before it is examined, and is removed only when it is handed to the caller.
So a cancelled ``receive_exactly`` or ``receive_until`` loses nothing: what
was already read stays buffered for the next call.  A delimiter search
remembers how far it has looked, so scanning stays linear in the bytes
received however small the chunks.  Every read that accumulates is bounded
by a limit, and exceeding it raises :class:`StreamLimitExceeded` naming the
limit, with the data still buffered.

A plain ``receive_into`` with nothing buffered goes straight to the wrapped
stream, into the caller's buffer: buffering costs nothing when unused.
"""

from __future__ import annotations

from ._abc import ByteStream, ConflictGuard, ReceiveStream, check_max_bytes, check_receive_buffer
from ._errors import StreamClosed, StreamError, StreamLimitExceeded

__all__ = ["BufferedStream", "PrematureEOF", "DEFAULT_LINE_LIMIT"]

#: Default ``limit`` of :meth:`BufferedStream.readline`.
DEFAULT_LINE_LIMIT = 65536


class PrematureEOF(StreamError):
    """The stream ended before the requested data was complete.

    The bytes that did arrive stay buffered (``receive_some()`` returns them);
    ``partial_size`` says how many there are.
    """

    def __init__(self, message: str, partial_size: int) -> None:
        super().__init__(message)
        self.partial_size = partial_size


class BufferedStream(ByteStream):
    """Wraps a stream and adds :meth:`receive_exactly`, :meth:`receive_until`,
    :meth:`readline` and :meth:`unreceive`.

    Sending passes straight through to the wrapped stream (which must then
    be a :class:`ByteStream`).  ``read_size`` is how much is asked for per
    receive from the wrapped stream.
    """

    def __init__(self, stream: ReceiveStream, *, read_size: int = 65536) -> None:
        self._stream = stream
        self._read_size = read_size
        self._buffer = bytearray()
        self._eof = False
        self._closed = False
        self._guard = ConflictGuard("another task is already receiving on this buffered stream")

    @property
    def wrapped_stream(self) -> ReceiveStream:
        """The stream being buffered."""
        return self._stream

    @property
    def buffered(self) -> int:
        """How many received bytes wait in the buffer."""
        return len(self._buffer)

    def get_extra_info(self, name: str, default: object = None) -> object:
        """Answered by the wrapped stream."""
        return self._stream.get_extra_info(name, default)

    # -- receiving ---------------------------------------------------------------

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Buffered bytes first, else one receive from the wrapped stream; ``0`` at EOF."""
        check_receive_buffer(buffer)
        self._check_open()
        with self._guard:
            if self._buffer:
                return self._take_into(buffer)
            if self._eof:
                return 0
            count = await self._stream.receive_into(buffer)
            self._eof = count == 0
            return count

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Buffered bytes first (at most ``max_bytes``), else one receive; ``b""`` at EOF."""
        size = check_max_bytes(max_bytes)
        self._check_open()
        with self._guard:
            if not self._buffer and not self._eof:
                await self._fill()
            return self._take(min(size, len(self._buffer)))

    async def receive_exactly(self, size: int) -> bytes:
        """Exactly ``size`` bytes; :class:`PrematureEOF` if the stream ends first."""
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        self._check_open()
        with self._guard:
            while len(self._buffer) < size:
                if self._eof or not await self._fill():
                    raise PrematureEOF(
                        f"the stream ended after {len(self._buffer)} of the {size} bytes requested", len(self._buffer)
                    )
            return self._take(size)

    async def receive_until(self, delimiter: bytes, max_bytes: int) -> bytes:
        """Bytes up to and including ``delimiter``.

        Raises :class:`StreamLimitExceeded` (``limit_name="max_bytes"``) if no
        delimiter appears within ``max_bytes`` bytes, and :class:`PrematureEOF`
        if the stream ends first; in both cases the data stays buffered.
        """
        if not delimiter:
            raise ValueError("the delimiter must not be empty")
        self._check_open()
        with self._guard:
            end = await self._find(delimiter, max_bytes, "max_bytes", "receive_until")
            if end < 0:
                raise PrematureEOF(
                    f"the stream ended before {delimiter!r} ({len(self._buffer)} bytes buffered)", len(self._buffer)
                )
            return self._take(end)

    async def readline(self, limit: int = DEFAULT_LINE_LIMIT) -> bytes:
        """One line including ``b"\\n"``; at EOF the unterminated rest, then ``b""``.

        A line longer than ``limit`` bytes raises :class:`StreamLimitExceeded`
        (``limit_name="limit"``) and stays buffered.
        """
        self._check_open()
        with self._guard:
            end = await self._find(b"\n", limit, "limit", "readline")
            return self._take(end if end >= 0 else len(self._buffer))

    async def _find(self, delimiter: bytes, max_bytes: int, limit_name: str, caller: str) -> int:
        """Index just past ``delimiter`` in the buffer (reading as needed), -1 at EOF."""
        searched = 0
        while True:
            index = self._buffer.find(delimiter, searched, max_bytes)  # wholly within the limit
            if index >= 0:
                return index + len(delimiter)
            if len(self._buffer) >= max_bytes:
                raise StreamLimitExceeded(
                    f"{caller}(): no {delimiter!r} within {limit_name}={max_bytes} bytes",
                    limit_name=limit_name,
                    limit=max_bytes,
                )
            # A delimiter may straddle the old end: rescan its last len-1 bytes.
            searched = max(0, len(self._buffer) - len(delimiter) + 1)
            if self._eof or not await self._fill():
                return -1

    def unreceive(self, data: bytes | bytearray | memoryview) -> None:
        """Push ``data`` back: the next receive returns it first."""
        self._check_open()
        self._buffer[:0] = data

    async def _fill(self) -> bool:
        """Receive one chunk into the buffer; False at EOF."""
        chunk = await self._stream.receive_some(self._read_size)
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _take_into(self, buffer: bytearray | memoryview) -> int:
        count = min(len(buffer), len(self._buffer))
        buffer[:count] = self._buffer[:count]
        del self._buffer[:count]
        return count

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed("the buffered stream was closed")

    # -- sending and closing -----------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send through the wrapped stream."""
        self._check_open()
        await self._sending_stream().send_all(data)

    async def send_eof(self) -> None:
        """Half-close the wrapped stream."""
        self._check_open()
        await self._sending_stream().send_eof()

    def _sending_stream(self) -> ByteStream:
        if not isinstance(self._stream, ByteStream):
            raise TypeError(f"{type(self._stream).__name__} is receive-only; it cannot send")
        return self._stream

    async def aclose(self) -> None:
        """Drop the buffer and close the wrapped stream."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        await self._stream.aclose()
