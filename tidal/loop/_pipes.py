"""Pipe transports: ``connect_read_pipe`` and ``connect_write_pipe`` (pipes, sockets, PTYs).

Theory of operation
-------------------
A pipe transport owns one file object whose descriptor is a pipe, a socket
or a character device (a PTY), switched to non-blocking mode.  Like the
socket transports it is written against the public loop API only, so the
same classes run on tidal's loop and on asyncio's.

* :class:`ReadPipeTransport` keeps one persistent read registration (removed
  while paused) and reads once per readiness callback; ``b""`` is EOF:
  ``eof_received()`` and then ``connection_lost(None)``.  A PTY whose other
  side closed reports ``EIO`` instead of EOF (Linux), which is treated as EOF
  too.
* :class:`WritePipeTransport` tries ``os.write`` at once and buffers only
  what the kernel did not take, with the same water marks as the socket
  transports.  A pipe or socket cannot tell its writer that the reader went
  away until a write fails, so the transport also watches its fd for
  *readability*: a write end becomes readable exactly when the read end
  closed (POLLHUP/POLLERR), and the transport then closes itself, like asyncio's:
  ``connection_lost(BrokenPipeError())`` if buffered data was lost with the
  reader, ``connection_lost(None)`` otherwise.  Character devices
  do not support that trick and are not watched.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from tidal.loop._transports import DEFAULT_HIGH_WATER, LOG_THRESHOLD_FOR_CONNLOST_WRITES, set_result_unless_cancelled

__all__ = ["ReadPipeTransport", "WritePipeTransport", "connect_read_pipe", "connect_write_pipe"]

logger = logging.getLogger("asyncio")

_MAX_READ = 256 * 1024


def _pipe_kind(fileno: int) -> int:
    return os.fstat(fileno).st_mode


def _check_readable_kind(mode: int) -> None:
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        raise ValueError("Pipe transport is for pipes/sockets only.")


class _PipeTransportBase:
    """What both pipe transports share: the pipe, the protocol, the single close path."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pipe: Any, protocol: asyncio.BaseProtocol) -> None:
        self._loop = loop
        self._pipe: Any = pipe
        self._fileno: int = pipe.fileno()
        self._protocol = protocol
        self._closing = False
        self._lost_scheduled = False

    def _describe(self) -> str:
        if self._pipe is None:
            state = "closed"
        elif self._closing:
            state = "closing"
        else:
            state = "open"
        return f"<{type(self).__name__} fd={self._fileno} {state}>"

    def __repr__(self) -> str:
        return self._describe()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        pipe = getattr(self, "_pipe", None)
        if pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            pipe.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Switch the protocol receiving this transport's events."""
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol receiving this transport's events."""
        return self._protocol

    def is_closing(self) -> bool:
        """True once close() or abort() was called or the pipe ended."""
        return self._closing

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        """The single path every unrecoverable error takes."""
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        raise NotImplementedError  # both transports override it

    def _schedule_connection_lost(self, exc: BaseException | None) -> None:
        if self._lost_scheduled:
            return
        self._lost_scheduled = True
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)  # type: ignore[arg-type]
        finally:
            if self._pipe is not None:
                self._pipe.close()
                self._pipe = None


class ReadPipeTransport(_PipeTransportBase, asyncio.ReadTransport):
    """Reads a pipe, socket or PTY and feeds its protocol."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        # Checked before taking ownership: a refused file stays the caller's.
        _check_readable_kind(_pipe_kind(pipe.fileno()))
        asyncio.ReadTransport.__init__(self, dict(extra or {}, pipe=pipe))
        _PipeTransportBase.__init__(self, loop, pipe, protocol)
        os.set_blocking(self._fileno, False)
        self._paused = False
        self._registered = False
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._register)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter)

    def _register(self) -> None:
        if not self._closing and not self._paused and not self._registered:
            self._registered = True
            self._loop.add_reader(self._fileno, self._on_readable)

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self._loop.remove_reader(self._fileno)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fileno, _MAX_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno == errno.EIO and stat.S_ISCHR(_pipe_kind(self._fileno)):
                data = b""  # a PTY whose other side closed (Linux)
            else:
                self._fatal_error(exc, "Fatal read error on pipe transport")
                return
        if data:
            self._protocol.data_received(data)  # type: ignore[attr-defined]
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._closing = True
        self._unregister()
        self._loop.call_soon(self._protocol.eof_received)  # type: ignore[attr-defined]
        self._schedule_connection_lost(None)

    def is_reading(self) -> bool:
        """True while data is delivered to the protocol."""
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        """Stop delivering data until resume_reading()."""
        if self._closing or self._paused:
            return
        self._paused = True
        self._unregister()

    def resume_reading(self) -> None:
        """Deliver data again."""
        if self._closing or not self._paused:
            return
        self._paused = False
        self._register()

    def close(self) -> None:
        """Stop reading and close the pipe; connection_lost(None) follows."""
        if not self._closing:
            self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._unregister()
        self._schedule_connection_lost(exc)


class WritePipeTransport(_PipeTransportBase, asyncio.WriteTransport):
    """Writes to a pipe, socket or PTY with buffering and flow control."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        mode = _pipe_kind(pipe.fileno())
        is_char = stat.S_ISCHR(mode)
        if not (is_char or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            # Checked before taking ownership: a refused file stays the caller's.
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        asyncio.WriteTransport.__init__(self, dict(extra or {}, pipe=pipe))
        _PipeTransportBase.__init__(self, loop, pipe, protocol)
        os.set_blocking(self._fileno, False)
        self._buffer = bytearray()
        self._eof = False
        self._writer_registered = False
        self._watching_reader = False
        self._conn_lost_writes = 0
        self._protocol_paused = False
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4
        loop.call_soon(protocol.connection_made, self)
        # See the module docstring: readability of a write end means the
        # reader went away (not on AIX, and not for character devices).
        if not is_char and not sys.platform.startswith("aix"):
            loop.call_soon(self._watch_reader)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter)

    def _watch_reader(self) -> None:
        if not self._closing and not self._watching_reader:
            self._watching_reader = True
            self._loop.add_reader(self._fileno, self._on_reader_gone)

    def _on_reader_gone(self) -> None:
        # As asyncio: an error only if written data was lost with the reader.
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._force_close(BrokenPipeError() if self._buffer else None)

    # -- writing ------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` now if the pipe takes it, else buffer it."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._lost_scheduled or self._closing:
            self._conn_lost_writes += 1
            if self._conn_lost_writes >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            return
        if not self._buffer:
            written = self._try_write(data)
            if written < 0 or written == len(data):
                return
            data = memoryview(data)[written:]
            self._writer_registered = True
            self._loop.add_writer(self._fileno, self._on_writable)
        self._buffer += data
        self._maybe_pause_protocol()

    def _try_write(self, data: bytes | bytearray | memoryview) -> int:
        """Bytes the pipe took now; -1 after a fatal error was handled."""
        try:
            return os.write(self._fileno, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._conn_lost_writes += 1
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return -1

    def _on_writable(self) -> None:
        if not self._buffer:
            return
        written = self._try_write(self._buffer)
        if written < 0:
            return
        del self._buffer[:written]
        self._maybe_resume_protocol()
        if self._buffer:
            return
        self._remove_writer()
        if self._closing:  # close() or write_eof() waited for the buffer
            self._stop_watching_reader()
            self._schedule_connection_lost(None)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        """Write every buffer in ``list_of_data`` as one write."""
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        """True: write_eof() closes the pipe once the buffer drained."""
        return True

    def write_eof(self) -> None:
        """Close the pipe after the buffered data (the reader then sees EOF).

        A later write() raises RuntimeError, as on socket transports (asyncio's
        pipe transport drops such data silently; after close() tidal does too).
        """
        if self._closing or self._eof:
            return
        self._eof = True
        self._close_after_buffer()

    def _close_after_buffer(self) -> None:
        self._closing = True
        if not self._buffer:
            self._stop_watching_reader()
            self._schedule_connection_lost(None)

    def close(self) -> None:
        """Close after the buffered data is written; connection_lost(None) follows."""
        if self._pipe is not None and not self._closing:
            self._close_after_buffer()

    def abort(self) -> None:
        """Close at once, dropping buffered data."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._buffer.clear()
        self._remove_writer()
        self._stop_watching_reader()
        self._schedule_connection_lost(exc)

    def _remove_writer(self) -> None:
        if self._writer_registered:
            self._writer_registered = False
            self._loop.remove_writer(self._fileno)

    def _stop_watching_reader(self) -> None:
        if self._watching_reader:
            self._watching_reader = False
            self._loop.remove_reader(self._fileno)

    # -- flow control -------------------------------------------------------------
    def get_write_buffer_size(self) -> int:
        """Bytes accepted by write() that the pipe has not taken yet."""
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The (low, high) water marks."""
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks that drive pause_writing()/resume_writing()."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water, self._low_water = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if not self._protocol_paused and len(self._buffer) > self._high_water:
            self._protocol_paused = True
            self._notify("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low_water:
            self._protocol_paused = False
            self._notify("resume_writing")

    def _notify(self, method: str) -> None:
        try:
            getattr(self._protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {"message": f"protocol.{method}() failed", "exception": exc, "transport": self,
                 "protocol": self._protocol}
            )


async def _connect_pipe(
    loop: asyncio.AbstractEventLoop,
    transport_class: Callable[..., Any],
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    pipe: Any,
) -> tuple[Any, asyncio.BaseProtocol]:
    protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    transport = transport_class(loop, pipe, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


async def connect_read_pipe(
    loop: asyncio.AbstractEventLoop, protocol_factory: Callable[[], asyncio.BaseProtocol], pipe: Any
) -> tuple[asyncio.ReadTransport, asyncio.BaseProtocol]:
    """Read ``pipe`` (a file object of a pipe, socket or PTY) into a protocol."""
    return await _connect_pipe(loop, ReadPipeTransport, protocol_factory, pipe)


async def connect_write_pipe(
    loop: asyncio.AbstractEventLoop, protocol_factory: Callable[[], asyncio.BaseProtocol], pipe: Any
) -> tuple[asyncio.WriteTransport, asyncio.BaseProtocol]:
    """Write to ``pipe`` (a file object of a pipe, socket or PTY) through a transport."""
    return await _connect_pipe(loop, WritePipeTransport, protocol_factory, pipe)
