"""ProcessDecompressStream: a gzip file inflated by a ``gzip -dc`` child process.

Theory of operation
-------------------
Reading a gzip file line by line on the loop costs, per line, the inflating
(about 40% of the work), the UTF-8 decoding, the line splitting and the
``async for`` step.  A worker thread cannot take the inflating off the loop
thread: zlib re-takes the GIL after every output block and CRC call, and
while the loop thread is busy splitting lines each re-take waits out the
interpreter's switch interval.  A child process shares no GIL.  So the file
is opened here (in a worker thread, so ``FileNotFoundError`` and friends are
raised as they are), handed to ``gzip -dc`` as its standard input, and the
loop reads the decoded bytes from the child's standard output through
asyncio's public subprocess API (``loop.subprocess_exec``), which tidal's
loop, asyncio's and uvloop all provide.  The child inflates on the other core
while the loop decodes and splits.

What the child decodes must equal what the in-process engine
(:mod:`tidal.protocols.compression`) decodes, and fail the same way:

* The first bytes are checked here before the child starts: gzip(1) also
  reads zip, compress(1), pack(1) and LZH input, which the engine refuses as
  "not a gzip stream".  An empty file is an empty stream, as in the engine
  (gzip(1) calls it "unexpected end of file").
* gzip(1)'s exit status 1 is an error and 2 a warning; its diagnostic on
  standard error names the fault, and :func:`child_failure` maps it, through
  one table, to the engine's exception type: "unexpected end of file" is a
  :class:`TruncatedStreamError`, "crc error" and "length error" a
  :class:`ChecksumError`, "trailing garbage ignored" (status 2, where gzip(1)
  only warns) a :class:`TrailingDataError`, as the engine refuses trailing
  garbage; zero padding after a member is accepted by both.  Anything else
  (a read error, the child killed by a signal) breaks the stream with a
  :class:`ChildProcessError` naming the status and the diagnostic.
* ``max_output`` is counted here, as bytes arrive: exactly ``max_output``
  bytes are handed out, the child is killed, and the next receive raises the
  same :class:`StreamLimitExceeded` as the engine.  ``max_ratio`` divides the
  output by the compressed bytes the child has *read* (the offset of the
  file description it shares with us, ``lseek``): gzip(1) reads up to its
  input buffer ahead of what it has inflated, so a bomb is stopped up to
  that much input later than in the engine, but it is stopped.

Bytes handed out before an error are those gzip(1) wrote before it failed.
For a bad checksum or trailing garbage that is the whole member, as in the
engine; for corrupt or truncated deflate data gzip(1) writes its 32 KiB
window out in pieces, so the count can differ from the engine's by less than
that.  The error itself always follows the last byte.

Backpressure: decoded bytes wait in a queue; past ``PIPE_HIGH_WATER`` bytes
the stream stops reading the pipe, the pipe fills and the child blocks in
``write``.  Nothing grows without bound whatever the consumer does.  The
pipe is enlarged to ``PIPE_SIZE`` (``F_SETPIPE_SZ``, where the loop exposes
the pipe: tidal's and asyncio's, not uvloop), so the child can run ahead
while the loop is busy and the loop reads large pieces.

Closing, at any point, kills the child, closes the pipes and waits until the
child has been reaped (no zombie, no descriptor left); if that wait is
cancelled, the loop's child watcher still reaps it.  A receive that reads
to the end releases the child and the file by itself, so ``async for`` run
to the end leaves nothing open even without ``async with``.

Known difference: a gzip member followed by a compress(1) or pack(1)
stream is decoded on by gzip(1) (the engine calls it trailing garbage), and
gzip(1) may also report it as corrupt input.
"""

from __future__ import annotations

import asyncio
import functools
import io
import os
import shutil
import stat
import subprocess
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from tidal.protocols.compression import (
    RATIO_GRACE_BYTES,
    ChecksumError,
    CorruptStreamError,
    DecompressionError,
    DecompressionLimitError,
    Decompressor,
    TrailingDataError,
    TruncatedStreamError,
)

from ._abc import ConflictGuard, ReceiveStream, check_max_bytes, check_receive_buffer
from ._errors import StreamBroken, StreamClosed, StreamLimitExceeded
from ._decompress import copy_from_chunk, slice_chunk, stream_error_for

__all__ = [
    "ProcessDecompressStream",
    "child_failure",
    "gzip_program",
    "inspect_file",
    "spare_cores",
    "PIPE_HIGH_WATER",
]

#: Decoded bytes queued before the child's pipe stops being read.
PIPE_HIGH_WATER = 1024 * 1024
#: Queued bytes below which reading resumes.
PIPE_LOW_WATER = 256 * 1024
#: Size asked for the child's output pipe (Linux; the default is 64 KiB).
PIPE_SIZE = 1024 * 1024
#: Bytes of the child's standard error kept for the error message.
MAX_DIAGNOSTIC = 4096

# gzip(1)'s diagnostics, matched in order in its standard error; None: not a fault.
_GZIP_DIAGNOSTICS: tuple[tuple[str, type[DecompressionError] | None], ...] = (
    ("unexpected end of file", TruncatedStreamError),
    ("crc error", ChecksumError),
    ("length error", ChecksumError),
    ("trailing garbage ignored", TrailingDataError),
    ("trailing zero bytes ignored", None),
    ("format violated", CorruptStreamError),
    ("not in gzip format", CorruptStreamError),
    ("corrupt input", CorruptStreamError),
    ("encrypted", CorruptStreamError),
    ("unknown method", CorruptStreamError),
    ("has flags", CorruptStreamError),
    ("multi-part", CorruptStreamError),
)


@functools.lru_cache(maxsize=1)
def gzip_program() -> str | None:
    """The path of the ``gzip`` program, or None if it is not installed (looked up once)."""
    return shutil.which("gzip")


def child_failure(returncode: int, diagnostic: str) -> Exception | None:
    """The error a finished ``gzip -dc`` child reports, or None if it decoded everything.

    ``diagnostic`` is its standard error.  Data faults become the engine's
    exception types (see the module docstring); any other failure a
    :class:`ChildProcessError`.
    """
    if returncode == 0:
        return None
    detail = " ".join(diagnostic.split()) or "no diagnostic"
    if returncode in (1, 2):
        for needle, error_type in _GZIP_DIAGNOSTICS:
            if needle in diagnostic:
                return None if error_type is None else error_type(f"gzip -dc: {detail}")
    if returncode < 0:
        return ChildProcessError(f"gzip -dc was killed by signal {-returncode} ({detail})")
    return ChildProcessError(f"gzip -dc exited with status {returncode} ({detail})")


def spare_cores() -> float:
    """Cores this process may use minus the 1-minute load average: roughly, the idle cores."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    try:
        return usable - os.getloadavg()[0]
    except OSError:
        return float(usable - 1)


def _prepare(path: str, program: str | None) -> tuple[io.FileIO, os.stat_result, bytes, str | None, float]:
    """:func:`inspect_file`, ``program`` or the ``gzip`` on PATH, and :func:`spare_cores` (blocking)."""
    file, status, head = inspect_file(path)
    return file, status, head, program or gzip_program(), spare_cores()


def inspect_file(path: str) -> tuple[io.FileIO, os.stat_result, bytes]:
    """Open ``path`` for reading; return it, its status and its first two bytes (blocking).

    The bytes are read with ``pread``, so the file offset stays at 0 for the
    child; they are empty for anything but a regular file.
    """
    file = io.FileIO(path, "r")
    try:
        status = os.fstat(file.fileno())
        head = os.pread(file.fileno(), 2, 0) if stat.S_ISREG(status.st_mode) else b""
    except BaseException:
        file.close()
        raise
    return file, status, head


def _magic_failure(head: bytes) -> DecompressionError | None:
    """The engine's own error for a file that does not start like gzip."""
    try:
        Decompressor("gzip", max_ratio=None).feed(head)
    except DecompressionError as error:
        return error
    return None


def _enlarge_pipe(transport: asyncio.SubprocessTransport | None) -> None:
    """Give the child's output pipe PIPE_SIZE bytes, so it runs ahead while the loop is busy."""
    try:
        import fcntl  # Unix only; F_SETPIPE_SZ is Linux's
    except ImportError:
        return
    pipe = transport.get_pipe_transport(1) if transport is not None else None
    source = pipe.get_extra_info("pipe") if pipe is not None else None
    if source is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    try:
        fcntl.fcntl(source.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, ValueError):
        pass  # above /proc/sys/fs/pipe-max-size, or the child is done and the pipe closed


class _ChildOutput(asyncio.SubprocessProtocol):
    """Queues the child's output, keeps its diagnostic, enforces the limits as bytes arrive."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        max_output: int | None,
        max_ratio: float | None,
        input_position: Callable[[], int],
    ) -> None:
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.total = 0
        self.limit_error: DecompressionLimitError | None = None
        self.diagnostic = bytearray()
        self.finished: asyncio.Future[None] = loop.create_future()  # exited, every pipe closed
        self.transport: asyncio.SubprocessTransport | None = None
        self._loop = loop
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._input_position = input_position
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.SubprocessTransport, transport)  # uvloop's is not registered as one

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        if fd != 1:
            self.diagnostic += data[: MAX_DIAGNOSTIC - len(self.diagnostic)]
            return
        if self.limit_error is not None:
            return  # killed for a limit: what is still in the pipe is dropped
        total = self.total + len(data)
        if self._max_output is not None and total > self._max_output:
            data = data[: len(data) - (total - self._max_output)]
            total = self._max_output
            self._stop(DecompressionLimitError(f"decompressed size exceeds max_output={self._max_output} bytes"))
        elif self._max_ratio is not None and total > RATIO_GRACE_BYTES:
            consumed = self._input_position()
            if total > self._max_ratio * consumed:
                self.chunks.clear()  # the engine raises at once, without this output
                self.queued = 0
                self._stop(
                    DecompressionLimitError(
                        f"decompression ratio exceeds max_ratio={self._max_ratio:g}"
                        f" ({total} bytes out of {consumed} compressed bytes)"
                    )
                )
                return
        self.total = total
        if data:
            self.chunks.append(bytes(data))
            self.queued += len(data)
            if self.queued >= PIPE_HIGH_WATER and not self._paused:
                self._set_reading(False)
        self._wake()

    def _stop(self, error: DecompressionLimitError) -> None:
        self.limit_error = error
        self.kill()
        self._wake()

    def kill(self) -> None:
        """Kill the child if it still runs."""
        if self.transport is not None and self.transport.get_returncode() is None:
            try:
                self.transport.kill()
            except ProcessLookupError:
                pass  # it exited meanwhile

    def take(self) -> bytes:
        """The oldest queued chunk; reading resumes once the queue is short again."""
        chunk = self.chunks.popleft()
        self.queued -= len(chunk)
        if self._paused and self.queued <= PIPE_LOW_WATER:
            self._set_reading(True)
        return chunk

    def _set_reading(self, reading: bool) -> None:
        pipe = self.transport.get_pipe_transport(1) if self.transport is not None else None
        if pipe is not None and not pipe.is_closing():
            pipe = cast(asyncio.ReadTransport, pipe)  # uvloop's pipes are not registered as such
            if reading:
                pipe.resume_reading()
            else:
                pipe.pause_reading()
        self._paused = not reading

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._wake()

    def process_exited(self) -> None:
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
        self._wake()

    async def wait(self) -> None:
        """Wait until something happens: output, the pipe's end, the child's exit."""
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class ProcessDecompressStream(ReceiveStream):
    """The decoded bytes of a gzip file, inflated by a ``gzip -dc`` child process.

    Receives what :class:`~tidal.streams.DecompressStream` over a
    :class:`~tidal.streams.FileStream` would (every member), and fails the
    same ways: ``FileNotFoundError`` and other errors opening the file are
    raised as they are by ``async with`` or the first receive; corrupt,
    truncated or trailing data raise :class:`StreamBroken` chained to the
    engine's error type; ``max_output`` and ``max_ratio`` raise
    :class:`StreamLimitExceeded`.  The file must be a regular file (anything
    else raises ``io.UnsupportedOperation``) and ``program`` (default: the
    ``gzip`` on ``PATH``) must exist.  ``aclose()`` kills the child and
    waits until it is reaped.  See the module docstring for what runs where.

    ``fallback``, if given, is called with the opened file instead of
    starting a child when the file is not regular, is smaller than
    ``min_size`` bytes, no ``gzip`` program exists, or (with
    ``needs_spare_core``) no core is idle (:func:`spare_cores` below 1); the
    stream it returns (decoding on the loop) then serves every receive.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_output: int | None = None,
        max_ratio: float | None = None,
        program: str | None = None,
        min_size: int = 0,
        needs_spare_core: bool = False,
        fallback: Callable[[io.FileIO], ReceiveStream] | None = None,
    ) -> None:
        self._path = os.fspath(path)
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._program = program
        self._min_size = min_size
        self._needs_spare_core = needs_spare_core
        self._fallback = fallback
        self._starting: asyncio.Task[None] | None = None
        self._started = False
        self._delegate: ReceiveStream | None = None
        self._file: io.FileIO | None = None
        self._child: _ChildOutput | None = None
        self._chunk = b""
        self._offset = 0
        self._eof = False
        self._closed = False
        self._broken: str | None = None
        self._refusal: DecompressionError | None = None  # the first bytes are not gzip
        self._guard = ConflictGuard("another task is already receiving on this decompressing stream")

    @property
    def uses_child_process(self) -> bool | None:
        """True when a child process inflates, False when the fallback decodes on the loop, None before the start."""
        if not self._started:
            return None
        return self._delegate is None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``"path"``, ``"mode"`` (``"rb"``) and ``"pid"`` (the child's, while it runs); otherwise ``default``."""
        if name == "pid":
            transport = self._child.transport if self._child is not None else None
            return transport.get_pid() if transport is not None else default
        return {"path": self._path, "mode": "rb"}.get(name, default)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self._path!r}{state}>"

    async def __aenter__(self) -> ProcessDecompressStream:
        """Open the file and start the child now, so a missing file fails here."""
        self._check_usable()
        await self._ensure_started()
        return self

    # -- starting ------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._started:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        try:
            # A cancelled caller leaves the start running; the next call (or aclose) claims it.
            await asyncio.shield(starting)
        except BaseException:
            if starting.done():
                self._starting = None  # it failed (a missing file ...): a later call tries again
            raise
        self._starting = None

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        file, status, head, program, spare = await loop.run_in_executor(None, _prepare, self._path, self._program)
        self._file = file
        if self._closed:  # closed while the file was being opened
            self._release()
            return
        try:
            if self._chooses_fallback(status, program, spare):
                assert self._fallback is not None
                self._file = None
                self._delegate = self._fallback(file)
            elif not stat.S_ISREG(status.st_mode):
                raise io.UnsupportedOperation(f"{self._path!r} is not a regular file; a gzip child reads only files")
            elif program is None:
                raise FileNotFoundError("no 'gzip' program on PATH to decompress in a child process")
            elif status.st_size == 0:
                self._release()  # empty: an empty stream, as the engine says
            elif (refusal := _magic_failure(head)) is not None:
                self._release()
                self._refusal = refusal
            else:
                await self._spawn(loop, program, file)
                if self._closed:  # closed while the child was starting
                    await self._shut_down()
        except BaseException:
            self._release()
            raise
        self._started = True

    def _chooses_fallback(self, status: os.stat_result, program: str | None, spare_cores: float) -> bool:
        if self._fallback is None:
            return False
        if program is None or not stat.S_ISREG(status.st_mode) or status.st_size < self._min_size:
            return True
        return self._needs_spare_core and spare_cores < 1.0

    async def _spawn(self, loop: asyncio.AbstractEventLoop, program: str, file: io.FileIO) -> None:
        descriptor = file.fileno()
        environment = {name: value for name, value in os.environ.items() if name != "GZIP"}  # no stray options
        child = _ChildOutput(loop, self._max_output, self._max_ratio, lambda: os.lseek(descriptor, 0, os.SEEK_CUR))
        await loop.subprocess_exec(
            lambda: child,
            program,
            "-dc",
            stdin=descriptor,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        self._child = child
        _enlarge_pipe(child.transport)

    # -- receiving ---------------------------------------------------------------------

    async def receive_into(self, buffer: bytearray | memoryview) -> int:
        """Decoded bytes into ``buffer``; ``0`` at the end of the file."""
        check_receive_buffer(buffer)
        self._check_usable()
        with self._guard:
            await self._ensure_started()
            if self._delegate is not None:
                return await self._delegate.receive_into(buffer)
            if not await self._have_output():
                return 0
            count = copy_from_chunk(self._chunk, self._offset, buffer)
            self._offset += count
            return count

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Decoded bytes, at most ``max_bytes`` (default: one pipe read, handed over without a copy)."""
        size = None if max_bytes is None else check_max_bytes(max_bytes)
        self._check_usable()
        with self._guard:
            await self._ensure_started()
            if self._delegate is not None:
                return await self._delegate.receive_some(max_bytes)
            if not await self._have_output():
                return b""
            piece, self._offset = slice_chunk(self._chunk, self._offset, size)
            return piece

    async def _have_output(self) -> bool:
        """Make sure decoded bytes wait in ``_chunk``; False at the end of the stream."""
        while self._offset >= len(self._chunk):
            if self._closed:
                raise StreamClosed("the decompressing stream was closed during the receive")
            if self._eof:
                return False
            child = self._child
            if child is None:  # empty file, or refused before any child started
                if self._refusal is not None:
                    await self._fail(self._refusal)
                return False
            if child.chunks:
                self._chunk, self._offset = child.take(), 0
            elif child.limit_error is not None:
                await self._fail(child.limit_error)
            elif child.finished.done():
                await self._conclude(child)
                return False
            else:
                await child.wait()
        return True

    async def _conclude(self, child: _ChildOutput) -> None:
        """Everything was handed out and the child is gone: EOF, or the child's fault."""
        assert child.transport is not None
        returncode = child.transport.get_returncode()
        failure = child_failure(-9 if returncode is None else returncode, child.diagnostic.decode(errors="replace"))
        if failure is not None:
            await self._fail(failure)
        self._eof = True
        await self._shut_down()

    async def _fail(self, failure: Exception) -> None:
        """Release the child and the file, then raise the stream error for ``failure``."""
        if isinstance(failure, DecompressionError):
            error: StreamBroken | StreamLimitExceeded = stream_error_for(failure, self._max_output, self._max_ratio)
        else:
            error = StreamBroken(f"decompressing {self._path!r} in a child process failed: {failure}")
        self._broken = str(error)
        await self._shut_down()
        raise error from failure

    # -- state and closing -----------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._closed:
            raise StreamClosed("the decompressing stream was closed")
        if self._broken is not None:
            raise StreamBroken(self._broken)

    def _release(self) -> None:
        """Close the file (the child has its own copy of the descriptor)."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    async def _shut_down(self) -> None:
        """Kill the child (if it runs), close its pipes, wait until it is reaped; close the file."""
        child = self._child
        self._chunk, self._offset = b"", 0
        if child is None or child.transport is None:
            self._release()
            return
        child.kill()
        child.transport.close()
        try:
            await asyncio.shield(child.finished)  # the child is reaped: no zombie
        finally:
            self._release()

    async def aclose(self) -> None:
        """Kill the child, close the pipes and the file; always closes (a cancelled wait still reaps)."""
        if self._closed:
            return
        self._closed = True
        if self._child is not None:
            self._child._wake()  # a receive waiting for output raises StreamClosed
        try:
            if self._starting is not None:
                await asyncio.gather(asyncio.shield(self._starting), return_exceptions=True)
        finally:
            try:
                await self._shut_down()
            finally:
                if self._delegate is not None:
                    await self._delegate.aclose()
