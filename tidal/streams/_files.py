"""Async files: ``tidal.open(path, "rt", compression="gzip")`` and the :class:`FileStream` under it.

Theory of operation
-------------------
No portable kernel interface reads a regular file without blocking (epoll
always reports files ready; io_uring is Linux-only and not in the stdlib), so
each read and write of a :class:`FileStream` runs in the event loop's default
thread pool (``loop.run_in_executor(None, ...)``).  A thread hop costs tens of
microseconds, so reads are large (256 KiB by default) and one read runs ahead:
while the caller decompresses and splits chunk *n*, a worker thread is
already reading chunk *n+1*.  Opening happens in the worker too, on first use
(or in ``async with``), so a slow disk or network file system never stalls
the loop.

At most one operation is in flight per file, and its future is kept by the
stream: a cancelled receive leaves its read running, and the next receive
picks up the chunk, so nothing is lost.  A cancelled ``send_all`` lets its
write finish in the worker (every byte is written once), and the next
operation waits for it.  ``aclose()`` waits for the operation in flight
before closing the descriptor, so a worker never touches a descriptor number
the process may already have reused; if ``aclose()`` itself is cancelled, the
descriptor is closed as soon as the worker returns.

A file opened for reading releases its descriptor as soon as a read returns
end-of-file, so ``async for line in tidal.open(path, "rt")`` run to the end
leaves nothing open even without ``async with``.  A loop left early should be
in ``async with`` (or call ``aclose()``).

``FileStream(path, "rb", compression=...)`` can also decompress in the
worker thread: each read decodes one engine slice (at most 256 KiB) and the
read-ahead decodes the next while the caller works.  zlib, brotli and zstd
release the GIL while they inflate, so with an idle core the inflating can
overlap the caller's work; the engine object is only ever touched by the one
operation in flight.  Engine errors come back as
:class:`~tidal.streams.DecompressStream` raises them
(:class:`StreamLimitExceeded`, :class:`StreamBroken` chained to the engine's
error), and a bomb is bounded the same way: one slice in hand, one in flight.
:func:`open` does not use it (yet): on a loaded two-core machine it measured
no faster than decompressing on the loop, for about 1% more instructions
(``docs/performance.md``); an idle-core measurement decides.

:func:`open` stacks the other streams on a :class:`FileStream`:
:class:`~tidal.streams.DecompressStream` / :class:`~tidal.streams.CompressStream`
for ``compression=...`` and :class:`~tidal.streams.TextStream` for text modes.
Decompression, text decoding and compression run on the event loop, a
bounded slice at a time (see those modules).

Except gzip in a child process: a child shares no GIL, so
``decompress_in="process"`` has a ``gzip -dc`` child inflate the file on
another core while the loop decodes and splits its output
(:mod:`tidal.streams._decompress_process`: the same bytes, exception types
and limits as the engine; the child is killed and reaped on close).  The
default, ``"auto"``, makes the choice when the file is opened, in the worker
thread: the child for a regular gzip file of at least
:data:`PROCESS_MIN_SIZE` bytes when ``gzip`` exists and a core is idle
(usable cores minus the 1-minute load average >= 1), else the loop.  The
idle-core condition is measured, not guessed: the child moves 36% of the
loop thread's instructions per line off it, and with a free core reading
ran at 1.47x ``gzip.open``'s speed, but on a two-core machine with no idle
core the child's CPU time is taken from the loop's and reading ran at
0.6-0.7x (``docs/performance.md``).  All of that holds when the loop
inflates with the standard zlib.  When zlib-ng inflates (``pip install
'tidal[speedups]'``), the loop alone read at 1.56x ``gzip.open`` and the
child at 1.34x (``gzip`` inflates with zlib, and its output crosses a
pipe), so ``"auto"`` then stays on the loop.
"""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any, Literal, overload

from tidal.protocols.compression import DecompressionError, Decompressor, inflate_backend
from tidal.protocols.text import DEFAULT_MAX_LINE_LENGTH

from ._abc import (
    AsyncResource,
    ByteStream,
    ConflictGuard,
    ReceiveStream,
    SendStream,
    check_max_bytes,
    check_receive_buffer,
)
from ._decompress import CompressStream, DecompressStream, engine_coding, stream_error_for
from ._decompress_process import ProcessDecompressStream
from ._errors import StreamBroken, StreamClosed
from ._text import TextStream

__all__ = ["FileStream", "open", "DEFAULT_FILE_CHUNK", "COMPRESSIONS", "PROCESS_MIN_SIZE", "DecompressIn"]

#: Bytes per read of a :class:`FileStream` (one worker-thread hop each).
DEFAULT_FILE_CHUNK = 256 * 1024
#: ``compression=`` values accepted by :func:`open`.
COMPRESSIONS = ("gzip", "deflate", "zlib", "br", "zstd")

TextMode = Literal["r", "rt", "tr", "w", "wt", "tw", "a", "at", "ta", "x", "xt", "tx"]
ReadBinaryMode = Literal["rb", "br"]
WriteBinaryMode = Literal["wb", "bw", "ab", "ba", "xb", "bx"]
StrPath = str | os.PathLike[str]
#: Where :func:`open` inflates: ``"loop"`` (the event loop's thread), ``"process"``
#: (a ``gzip -dc`` child; gzip only) or ``"auto"`` (see :func:`open`).
DecompressIn = Literal["auto", "loop", "process"]
#: Under ``decompress_in="auto"``, gzip files of at least this many (compressed)
#: bytes are inflated by a child process: its start (about 1-3 ms, 10 ms on
#: uvloop, on a loaded machine) is then small beside the inflating it moves off
#: the loop (about 100 ms of CPU per MiB of compressed text).
PROCESS_MIN_SIZE = 1024 * 1024


class FileStream(ByteStream):
    """A file as a :class:`ByteStream`: reads and writes run in a worker thread.

    ``mode`` is ``"rb"`` (receive), ``"wb"``, ``"ab"`` or ``"xb"`` (send).
    The file is opened on first use or on ``async with``; an error opening
    it (``FileNotFoundError``, ``PermissionError`` ...) is raised by that
    operation as it is.  A read or write failing later raises
    :class:`StreamBroken` chained to the ``OSError``.  ``send_eof()`` waits
    until everything sent is written and forbids further sends.

    ``compression`` (reading only: ``"gzip"``, ``"deflate"``/``"zlib"``,
    ``"br"``, ``"zstd"``) decompresses in the worker thread too, so the
    stream receives decoded bytes; ``max_output`` and ``max_ratio`` bound it
    as they bound :class:`~tidal.streams.DecompressStream`, whose errors it
    raises (:class:`StreamLimitExceeded`, :class:`StreamBroken` chained to
    the engine's error).
    """

    def __init__(
        self,
        path: StrPath,
        mode: str = "rb",
        *,
        read_size: int = DEFAULT_FILE_CHUNK,
        compression: str | None = None,
        max_output: int | None = None,
        max_ratio: float | None = None,
    ) -> None:
        if mode not in ("rb", "wb", "ab", "xb"):
            raise ValueError(f"FileStream mode must be 'rb', 'wb', 'ab' or 'xb', not {mode!r}")
        if read_size < 1:
            raise ValueError(f"read_size must be positive, not {read_size}")
        if compression is not None and mode != "rb":
            raise ValueError("FileStream compresses nothing: compression= is for reading ('rb'); use CompressStream to write")
        self._path = os.fspath(path)
        self._mode = mode
        self._read_size = read_size
        self._engine: Decompressor | None = None
        if compression is not None:
            self._engine = Decompressor(engine_coding(compression), max_output=max_output, max_ratio=max_ratio)
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._file: io.FileIO | None = None
        self._in_flight: asyncio.Future[Any] | None = None
        self._chunk = b""  # a chunk read but not yet handed out entirely
        self._offset = 0
        self._eof = False
        self._eof_sent = False
        self._opened = False
        self._closed = False
        self._broken: str | None = None
        self._receive_guard = ConflictGuard("another task is already receiving on this file stream")
        self._send_guard = ConflictGuard("another task is already sending on this file stream")

    @property
    def name(self) -> str:
        """The path the stream was opened with."""
        return self._path

    @property
    def mode(self) -> str:
        """``"rb"``, ``"wb"``, ``"ab"`` or ``"xb"``."""
        return self._mode

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"path"`` and ``"mode"``; otherwise ``default``."""
        return {"path": self._path, "mode": self._mode}.get(name, default)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self._path!r} mode={self._mode!r}{state}>"

    @classmethod
    def _reading_opened(cls, file: io.FileIO, path: StrPath, read_size: int) -> FileStream:
        """A reading stream over ``file``, already opened (in a worker thread) for ``path``."""
        stream = cls(path, "rb", read_size=read_size)
        stream._file = file
        stream._opened = True
        return stream

    async def __aenter__(self) -> FileStream:
        """Open the file now (in a worker thread), so a missing file fails here."""
        self._check_open()
        if self._file is None and not self._eof:
            await self._run(self._open_blocking)
        return self

    # -- worker-thread functions (never touch loop state) --------------------------------

    def _open_blocking(self) -> io.FileIO:
        if self._file is None:
            self._file = io.FileIO(self._path, self._mode[0])
            self._opened = True
        return self._file

    def _create_blocking(self) -> None:
        io.FileIO(self._path, self._mode[0]).close()

    def _read_blocking(self) -> bytes:
        file = self._file or self._open_blocking()  # an error opening is raised as it is
        try:
            return file.read(self._read_size) or b""
        except OSError as error:
            raise _IOFailure("reading", error) from error

    def _read_decoded_blocking(self) -> bytes | None:
        """One engine slice of decoded bytes; b"" at the end; None: input consumed, no output yet."""
        engine = self._engine
        assert engine is not None
        try:
            if not engine.needs_input:
                return engine.feed(b"") or None
            compressed = self._read_blocking()
            if not compressed:
                engine.finish()  # a truncated stream raises here
                return b""
            return engine.feed(compressed) or None
        except DecompressionError as error:
            raise _DecodeFailure(error) from error

    def _write_blocking(self, data: bytes) -> None:
        file = self._file or self._open_blocking()
        view = memoryview(data)
        try:
            while view:
                written = file.write(view)
                view = view[written or 0 :]
        except OSError as error:
            raise _IOFailure("writing", error) from error

    # -- receiving ---------------------------------------------------------------------

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Copy file bytes into ``buffer``; ``0`` at end of file."""
        check_receive_buffer(buffer)
        self._check_can_receive()
        with self._receive_guard:
            if not await self._have_chunk():
                return 0
            count = min(len(buffer), len(self._chunk) - self._offset)
            buffer[:count] = memoryview(self._chunk)[self._offset : self._offset + count]
            self._offset += count
            return count

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """At most ``max_bytes`` bytes (default: one chunk, handed over without copying)."""
        size = self._read_size if max_bytes is None else check_max_bytes(max_bytes)
        self._check_can_receive()
        with self._receive_guard:
            if not await self._have_chunk():
                return b""
            chunk, start = self._chunk, self._offset
            end = min(len(chunk), start + size)
            self._offset = end
            return chunk if start == 0 and end == len(chunk) else chunk[start:end]

    async def _have_chunk(self) -> bool:
        """Make sure unread bytes are in ``_chunk``; False at end of file."""
        reader = self._read_blocking if self._engine is None else self._read_decoded_blocking
        while self._offset >= len(self._chunk):
            if self._eof:
                return False
            read = self._in_flight or self._start(reader)
            if read.done():
                await asyncio.sleep(0)  # the chunk came without waiting: let others run
            chunk = await self._finish(read)
            self._chunk, self._offset = chunk or b"", 0
            if chunk is None:
                continue  # the decoder took input without output yet (a header, padding)
            if not chunk:
                self._eof = True
                self._close_file()  # nothing more to read: release the descriptor now
                return False
            self._start(reader)  # read (and decode) ahead while the caller works
        return True

    # -- sending -----------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write every byte of ``data`` (in a worker thread)."""
        self._check_can_send()
        with self._send_guard:
            self._check_can_send()
            if self._in_flight is not None:
                await self._finish(self._in_flight)
            if data:
                await self._finish(self._start(self._write_blocking, bytes(data)))

    async def send_eof(self) -> None:
        """Wait until every byte sent is written; later sends raise :class:`StreamClosed`."""
        self._check_open()
        self._check_writable()
        with self._send_guard:
            self._eof_sent = True
            if self._in_flight is not None:
                await self._finish(self._in_flight)

    # -- operations in flight -------------------------------------------------------------

    def _start(self, function: Any, *args: Any) -> asyncio.Future[Any]:
        self._in_flight = asyncio.get_running_loop().run_in_executor(None, function, *args)
        return self._in_flight

    async def _run(self, function: Any) -> Any:
        if self._in_flight is not None:
            await self._finish(self._in_flight)
        return await self._finish(self._start(function))

    async def _finish(self, operation: asyncio.Future[Any]) -> Any:
        """Await ``operation``; a cancelled caller leaves it running for the next call."""
        try:
            result = await asyncio.shield(operation)
        except asyncio.CancelledError:
            raise  # still in flight (or done, unclaimed): the next call claims it
        except _IOFailure as failure:
            self._forget(operation)
            self._broken = f"{failure.verb} {self._path!r} failed: {failure.error}"
            raise StreamBroken(self._broken) from failure.error
        except _DecodeFailure as failure:
            self._forget(operation)
            error = stream_error_for(failure.error, self._max_output, self._max_ratio)
            self._broken = f"{self._path!r}: {error}"
            raise error from failure.error
        except BaseException:
            self._forget(operation)
            raise
        self._forget(operation)
        if self._closed:
            raise StreamClosed("the file stream was closed during the operation")
        return result

    def _forget(self, operation: asyncio.Future[Any]) -> None:
        if self._in_flight is operation:
            self._in_flight = None

    # -- errors and state ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StreamClosed("the file stream was closed")
        if self._broken is not None:
            raise StreamBroken(self._broken)

    def _check_can_receive(self) -> None:
        self._check_open()
        if self._mode != "rb":
            raise io.UnsupportedOperation(f"{self._path!r} was opened for writing ({self._mode!r}); it cannot be read")

    def _check_writable(self) -> None:
        if self._mode == "rb":
            raise io.UnsupportedOperation(f"{self._path!r} was opened for reading; it cannot be written")

    def _check_can_send(self) -> None:
        self._check_open()
        self._check_writable()
        if self._eof_sent:
            raise StreamClosed("send_eof() was called; this file stream cannot send any more")

    # -- closing -----------------------------------------------------------------------

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    async def aclose(self) -> None:
        """Wait for the operation in flight, then close the file; always closes.

        A file opened for writing that was never written is created (or
        truncated) here, as ``open(path, "w")`` would have done.
        """
        if self._closed:
            return
        self._closed = True
        self._chunk = b""
        operation, self._in_flight = self._in_flight, None
        try:
            if operation is not None and not operation.done():
                await asyncio.shield(operation)
        except asyncio.CancelledError:
            if operation is not None and not operation.done():
                operation.add_done_callback(self._close_after)
                raise
        except BaseException:
            pass  # a failed read ahead nobody asked for; closing is all that is left
        if operation is not None and not operation.cancelled():
            operation.exception()  # retrieved: no "exception was never retrieved" report
        self._close_file()
        if self._mode != "rb" and not self._opened and self._broken is None:
            # Nothing was written: still create (or truncate) the file, as open() would.
            await asyncio.get_running_loop().run_in_executor(None, self._create_blocking)

    def _close_after(self, operation: asyncio.Future[Any]) -> None:
        if not operation.cancelled():
            operation.exception()
        self._close_file()


class _IOFailure(Exception):
    """A read or write (not the opening) failed in the worker thread."""

    def __init__(self, verb: str, error: OSError) -> None:
        super().__init__(verb, error)
        self.verb = verb
        self.error = error


class _DecodeFailure(Exception):
    """The decompression engine refused the file's bytes in the worker thread."""

    def __init__(self, error: DecompressionError) -> None:
        super().__init__(error)
        self.error = error


@overload
def open(
    file: StrPath,
    mode: TextMode,
    *,
    compression: str | None = None,
    encoding: str | None = None,
    errors: str = "strict",
    newline: str | None = None,
    level: int | None = None,
    max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    max_output: int | None = None,
    max_ratio: float | None = None,
    read_size: int = DEFAULT_FILE_CHUNK,
    decompress_in: DecompressIn = "auto",
) -> TextStream: ...


@overload
def open(
    file: StrPath,
    mode: ReadBinaryMode = "rb",
    *,
    compression: str | None = None,
    encoding: None = None,
    errors: str = "strict",
    newline: None = None,
    level: int | None = None,
    max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    max_output: int | None = None,
    max_ratio: float | None = None,
    read_size: int = DEFAULT_FILE_CHUNK,
    decompress_in: DecompressIn = "auto",
) -> ReceiveStream: ...


@overload
def open(
    file: StrPath,
    mode: WriteBinaryMode,
    *,
    compression: str | None = None,
    encoding: None = None,
    errors: str = "strict",
    newline: None = None,
    level: int | None = None,
    max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    max_output: int | None = None,
    max_ratio: float | None = None,
    read_size: int = DEFAULT_FILE_CHUNK,
    decompress_in: DecompressIn = "auto",
) -> SendStream: ...


@overload
def open(
    file: StrPath,
    mode: str,
    *,
    compression: str | None = None,
    encoding: str | None = None,
    errors: str = "strict",
    newline: str | None = None,
    level: int | None = None,
    max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    max_output: int | None = None,
    max_ratio: float | None = None,
    read_size: int = DEFAULT_FILE_CHUNK,
    decompress_in: DecompressIn = "auto",
) -> AsyncResource: ...


def open(  # noqa: A001  (tidal.open mirrors the builtin on purpose)
    file: StrPath,
    mode: str = "rb",
    *,
    compression: str | None = None,
    encoding: str | None = None,
    errors: str = "strict",
    newline: str | None = None,
    level: int | None = None,
    max_line_length: int | None = DEFAULT_MAX_LINE_LENGTH,
    max_output: int | None = None,
    max_ratio: float | None = None,
    read_size: int = DEFAULT_FILE_CHUNK,
    decompress_in: DecompressIn = "auto",
) -> AsyncResource:
    """Open a file as a stream, without blocking the event loop.

    ``mode`` is ``"rb"``, ``"rt"`` (or ``"r"``), ``"wb"``, ``"wt"`` (``"w"``),
    ``"ab"``/``"at"`` (append) or ``"xb"``/``"xt"`` (create, fail if it
    exists).  ``compression`` (``"gzip"``, ``"deflate"``/``"zlib"`` -- the
    zlib format --, ``"br"``, ``"zstd"``) decompresses while reading and
    compresses while writing (``level`` picks the compression level).
    Text modes take ``encoding`` (reading: None reads a BOM, else UTF-8;
    writing: None writes UTF-8), ``errors``, ``newline`` and
    ``max_line_length`` as :class:`TextStream` does.  ``max_output`` and
    ``max_ratio`` bound decompression (None: unlimited; set them for files
    from untrusted sources).

    ``decompress_in`` says where a file being read is inflated: ``"loop"``
    on the event loop's thread, a bounded slice at a time;
    ``"process"`` in a ``gzip -dc`` child process (gzip only), which runs
    on another core while the loop decodes text
    (:class:`~tidal.streams.ProcessDecompressStream`:
    same output, same exception types, same limits); ``"auto"`` (the
    default) inflates on the loop when zlib-ng is the inflate backend
    (``tidal.protocols.compression.inflate_backend()``: faster than the
    child), and otherwise picks the child for gzip when the file is a regular file of at
    least :data:`PROCESS_MIN_SIZE` compressed bytes, a ``gzip`` program
    exists and a core is idle (the usable cores minus the 1-minute load
    average is at least 1: on a busy machine the child only takes CPU time
    from the loop), and the loop otherwise.  The choice is made when the file is
    opened (in a worker thread), not here.

    Returns, without awaiting anything: a :class:`FileStream` (``"rb"``,
    ``"wb"`` ...), wrapped in a :class:`DecompressStream` or
    :class:`CompressStream` when ``compression`` is given (reading gzip
    other than with ``decompress_in="loop"``: a ``ProcessDecompressStream``
    instead), wrapped in a :class:`TextStream` in text modes.  Use it
    as ``async with tidal.open(...) as f`` or iterate it directly:
    ``async for line in tidal.open(path, "rt")``.  The file is opened in a
    worker thread at ``async with`` (or on first use without it); errors
    opening it (``FileNotFoundError`` ...) are raised there, as they are.
    """
    kind, text = _parse_mode(mode)
    if compression is not None and compression.strip().lower() not in COMPRESSIONS:
        raise ValueError(f"compression must be None or one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    if not text and (encoding is not None or newline is not None):
        raise ValueError("encoding and newline apply to text modes only ('rt', 'wt' ...)")
    if decompress_in not in ("auto", "loop", "process"):
        raise ValueError(f"decompress_in must be 'auto', 'loop' or 'process', not {decompress_in!r}")
    if decompress_in == "process" and (compression is None or compression.strip().lower() != "gzip"):
        raise ValueError("decompress_in='process' decompresses gzip only (compression='gzip')")
    if kind == "r":
        source: ReceiveStream = FileStream(file, "rb", read_size=read_size)
        if compression is not None:
            source = _decompressing(file, compression, decompress_in, max_output, max_ratio, read_size)
        if not text:
            return source
        return TextStream(source, encoding, errors, newline, max_line_length=max_line_length)
    raw = FileStream(file, kind + "b", read_size=read_size)
    sink: SendStream = raw
    if compression is not None:
        sink = CompressStream(raw, compression, level=level, flush_each_send=False)
    if not text:
        return sink
    return TextStream(sink, encoding, errors, newline, max_line_length=max_line_length)


def _decompressing(
    file: StrPath,
    compression: str,
    decompress_in: DecompressIn,
    max_output: int | None,
    max_ratio: float | None,
    read_size: int,
) -> ReceiveStream:
    """The decoded bytes of ``file``: inflated on the loop or by a gzip child (see :func:`open`)."""

    def on_the_loop(opened: io.FileIO | None = None) -> ReceiveStream:
        # On the loop, not in the file's worker thread: see the module docstring.
        if opened is None:
            raw = FileStream(file, "rb", read_size=read_size)
        else:
            raw = FileStream._reading_opened(opened, file, read_size)
        return DecompressStream(raw, compression, max_output=max_output, max_ratio=max_ratio, read_size=read_size)

    if decompress_in == "loop" or compression.strip().lower() != "gzip":
        return on_the_loop()
    if decompress_in == "auto" and inflate_backend() != "zlib":
        return on_the_loop()  # zlib-ng on the loop outruns a gzip -dc child (module docstring)
    if decompress_in == "process":
        return ProcessDecompressStream(file, max_output=max_output, max_ratio=max_ratio)
    return ProcessDecompressStream(
        file,
        max_output=max_output,
        max_ratio=max_ratio,
        min_size=PROCESS_MIN_SIZE,
        needs_spare_core=True,
        fallback=on_the_loop,
    )


def _parse_mode(mode: str) -> tuple[str, bool]:
    """``"rt"`` -> ``("r", True)``; refuses ``"+"``, ``"U"`` and anything else."""
    kinds = [c for c in mode if c in "rwax"]
    flags = set(mode) - set("rwax")
    if len(kinds) != 1 or len(mode) > 2 or not flags <= {"b", "t"} or flags == {"b", "t"}:
        raise ValueError(f"invalid mode {mode!r}: use 'rb', 'rt', 'wb', 'wt', 'ab', 'at', 'xb' or 'xt'")
    return kinds[0], "b" not in flags
