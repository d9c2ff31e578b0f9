"""DecompressStream and CompressStream over any stream, driven by ``protocols.compression``.

Theory of operation
-------------------
:class:`DecompressStream` pulls compressed bytes from the wrapped stream and
hands out decoded bytes.  The engine returns at most ``max_length`` bytes per
call, so a bomb never materializes: decoded output waits as the engine's own
bytes object (one slice at most, handed over by ``receive_some()`` without a
copy), and the engine is only fed again once it has all been taken.
``max_output`` and ``max_ratio`` are checked by the engine; hitting one
raises :class:`StreamLimitExceeded` and breaks the stream.  Output decoded
before a fault comes first; the error follows (see the engine).  At the
wrapped stream's EOF the engine's ``finish()`` rejects truncated input
(a gzip member cut short is an error, never a silent short read).

Cancellation is safe: the only await is the wrapped stream's receive, which
loses nothing when cancelled, and engine calls happen after it returns.

:class:`CompressStream` is the sending side (``open_file(..., "wb",
compression=...)``, servers, tests): each ``send_all`` compresses and, by
default, flushes, so the peer can decode everything sent so far.
"""

from __future__ import annotations

from tidal.protocols.compression import (
    DEFAULT_MAX_RATIO,
    Compressor,
    DecompressionError,
    DecompressionLimitError,
    Decompressor,
)

from ._abc import ByteStream, ConflictGuard, ReceiveStream, SendStream, check_max_bytes, check_receive_buffer
from ._errors import StreamBroken, StreamClosed, StreamLimitExceeded

__all__ = ["DecompressStream", "CompressStream"]


def copy_from_chunk(chunk: bytes, offset: int, buffer: bytearray | memoryview) -> int:
    """Copy ``chunk[offset:]`` into ``buffer`` as far as it fits; return the byte count."""
    count = min(len(buffer), len(chunk) - offset)
    buffer[:count] = memoryview(chunk)[offset : offset + count]
    return count


def slice_chunk(chunk: bytes, offset: int, size: int | None) -> tuple[bytes, int]:
    """``chunk[offset:]``, at most ``size`` bytes (the whole chunk without a copy when it can), and the new offset."""
    end = len(chunk) if size is None else min(len(chunk), offset + size)
    return (chunk if offset == 0 and end == len(chunk) else chunk[offset:end]), end


class DecompressStream(ReceiveStream):
    """Receive the decoded form of a compressed stream.

    ``coding`` is ``"gzip"`` (every member), ``"deflate"``/``"zlib"`` (zlib
    format), ``"deflate-raw"``, ``"br"`` or ``"zstd"``, or a
    ``Content-Encoding`` chain such as ``"gzip, br"``.  ``max_output`` caps
    the decoded size and ``max_ratio`` the decoded/compressed ratio (a bomb
    raises :class:`StreamLimitExceeded`); corrupt or truncated input raises
    :class:`StreamBroken` chained to the engine's error.
    """

    def __init__(
        self,
        stream: ReceiveStream,
        coding: str = "gzip",
        *,
        max_output: int | None = None,
        max_ratio: float | None = DEFAULT_MAX_RATIO,
        read_size: int = 65536,
    ) -> None:
        self._stream = stream
        self._engine = Decompressor(engine_coding(coding), max_output=max_output, max_ratio=max_ratio)
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._read_size = read_size
        # Decoded bytes not handed out yet: _chunk[_offset:].  Kept as the engine's
        # own bytes object (no copy into a buffer); receive_some() hands it over whole.
        self._chunk = b""
        self._offset = 0
        self._eof = False
        self._closed = False
        self._broken: StreamBroken | None = None
        self._guard = ConflictGuard("another task is already receiving on this decompressing stream")

    @property
    def total_in(self) -> int:
        """Compressed bytes consumed so far."""
        return self._engine.total_in

    @property
    def total_out(self) -> int:
        """Decoded bytes produced so far."""
        return self._engine.total_out

    def get_extra_info(self, name: str, default: object = None) -> object:
        """Answered by the wrapped stream."""
        return self._stream.get_extra_info(name, default)

    async def __aenter__(self) -> DecompressStream:
        """Enter the wrapped stream too (a file is opened here, and fails here)."""
        await self._stream.__aenter__()
        return self

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Decoded bytes into ``buffer``; ``0`` at the end of the compressed stream."""
        check_receive_buffer(buffer)
        self._check_usable()
        with self._guard:
            if not await self._have_output():
                return 0
            count = copy_from_chunk(self._chunk, self._offset, buffer)
            self._offset += count
            return count

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Decoded bytes, at most ``max_bytes`` (default: one engine slice, handed over without a copy)."""
        size = None if max_bytes is None else check_max_bytes(max_bytes)
        self._check_usable()
        with self._guard:
            if not await self._have_output():
                return b""
            piece, self._offset = slice_chunk(self._chunk, self._offset, size)
            return piece

    async def _have_output(self) -> bool:
        """Make sure decoded bytes wait in ``_chunk``; False at the end of the stream."""
        while self._offset >= len(self._chunk):
            if self._eof:
                return False
            await self._decode_more()
        return True

    async def _decode_more(self) -> None:
        engine = self._engine
        if engine.needs_input:
            compressed = await self._stream.receive_some(self._read_size)
            if not compressed:
                self._engine_step(engine.finish)
                self._eof = True
                return
            self._chunk, self._offset = self._engine_step(engine.feed, compressed), 0
        else:
            self._chunk, self._offset = self._engine_step(engine.feed, b""), 0

    def _engine_step(self, method: object, *args: bytes) -> bytes:
        assert callable(method)
        try:
            result = method(*args)
        except DecompressionError as error:
            failure = stream_error_for(error, self._max_output, self._max_ratio)
            self._broken = StreamBroken(str(failure))
            raise failure from error
        return result if isinstance(result, bytes) else b""

    def _check_usable(self) -> None:
        if self._closed:
            raise StreamClosed("the decompressing stream was closed")
        if self._broken is not None:
            raise StreamBroken(str(self._broken))

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        if self._closed:
            return
        self._closed = True
        self._chunk, self._offset = b"", 0
        await self._stream.aclose()


def stream_error_for(
    error: DecompressionError, max_output: int | None, max_ratio: float | None
) -> StreamBroken | StreamLimitExceeded:
    """The stream error for an engine error: a limit names itself, anything else breaks the stream."""
    if isinstance(error, DecompressionLimitError):
        by_ratio = "max_ratio" in str(error)
        return StreamLimitExceeded(
            f"decompression stopped: {error}",
            limit_name="max_ratio" if by_ratio else "max_output",
            limit=int(max_ratio or 0) if by_ratio else max_output or 0,
        )
    return StreamBroken(f"the compressed data is invalid: {error}")


def engine_coding(coding: str) -> str:
    """The engine's name for a stream ``coding``: ``"zlib"`` is the format's own name, HTTP's is ``"deflate"``."""
    return "deflate" if coding.strip().lower() == "zlib" else coding


class CompressStream(SendStream):
    """Send data compressed with ``coding`` through ``stream``.

    With ``flush_each_send`` (the default) every ``send_all`` ends with a
    sync flush, so the receiver can decode everything sent so far; turn it
    off for files, where only the compression ratio matters.  ``send_eof()``
    writes the trailer and half-closes the wrapped stream; ``aclose()``
    writes the trailer if it was not written yet.  A cancelled send breaks
    the stream (the compressor has consumed bytes that may not have left).
    """

    def __init__(
        self, stream: SendStream, coding: str = "gzip", *, level: int | None = None, flush_each_send: bool = True
    ) -> None:
        self._stream = stream
        self._compressor = Compressor(engine_coding(coding), level=level)
        self._flush_each_send = flush_each_send
        self._finished = False
        self._closed = False
        self._broken: str | None = None
        self._guard = ConflictGuard("another task is already sending on this compressing stream")

    def get_extra_info(self, name: str, default: object = None) -> object:
        """Answered by the wrapped stream."""
        return self._stream.get_extra_info(name, default)

    async def __aenter__(self) -> CompressStream:
        """Enter the wrapped stream too (a file is opened here, and fails here)."""
        await self._stream.__aenter__()
        return self

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Compress ``data`` and send what the compressor produced."""
        self._check_can_send()
        with self._guard:
            out = self._compressor.compress(bytes(data))
            if self._flush_each_send:
                out += self._compressor.flush()
            await self._send(out)

    async def _send(self, data: bytes) -> None:
        if not data:
            return
        try:
            await self._stream.send_all(data)
        except BaseException:
            self._broken = "an earlier send was interrupted; the compressed stream is incomplete"
            raise

    async def send_eof(self) -> None:
        """Write the compressed stream's trailer, then half-close the wrapped stream."""
        if self._closed:
            raise StreamClosed("the compressing stream was closed")
        with self._guard:
            await self._finish()
            if isinstance(self._stream, ByteStream):
                await self._stream.send_eof()

    async def _finish(self) -> None:
        if self._finished or self._broken is not None:
            return
        self._finished = True
        await self._send(self._compressor.finish())

    def _check_can_send(self) -> None:
        if self._closed:
            raise StreamClosed("the compressing stream was closed")
        if self._broken is not None:
            raise StreamBroken(self._broken)
        if self._finished:
            raise StreamClosed("send_eof() was called; the compressed stream is complete")

    async def aclose(self) -> None:
        """Write the trailer (if the stream is intact), then close the wrapped stream."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._guard.held:
                await self._finish()
        except (StreamBroken, StreamClosed):
            pass  # the wrapped stream is gone; closing is all that is left
        finally:
            await self._stream.aclose()
