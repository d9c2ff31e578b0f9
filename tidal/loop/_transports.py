"""Socket transports for stream sockets (TCP and Unix) and ``loop.sendfile``.

Theory of operation
-------------------
A transport owns one non-blocking socket and drives an asyncio protocol with
it.  It is written against the *public* loop API only (``add_reader``,
``add_writer``, ``call_soon``, ``call_exception_handler`` ...), so the same
class runs on tidal's loop and on asyncio's default loop; the tests run it on
both.

* Reading: the read registration is persistent.  It is added once, after
  ``connection_made`` has run, and removed only while reading is paused, after
  EOF, or at close; each readiness callback performs one ``recv`` (or
  ``recv_into`` for a :class:`asyncio.BufferedProtocol`).
* Writing: ``write()`` tries ``send`` at once; only the bytes the kernel did
  not take are buffered, and only then is a writer registered.  The writer is
  removed as soon as the buffer drains.  The buffer size drives
  ``pause_writing``/``resume_writing`` with high/low water marks.
* Failure: every error funnels into one fatal-error path that reports
  non-OSError failures to the loop's exception handler and force-closes.
  ``connection_lost`` is scheduled exactly once, after ``connection_made``,
  and the socket is closed right after it runs (unregistered before close,
  so a reused fd number never inherits a stale registration).

TLS is layered *above* these classes as a protocol wrapper (the TLS engine
consumes the raw bytes this transport delivers and writes ciphertext through
it), so nothing here knows about ``ssl``.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import io
import logging
import os
import socket
import warnings
from asyncio import trsock
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidal.loop._server import Server

__all__ = ["SocketTransportBase", "StreamTransport", "sendfile"]

logger = logging.getLogger("tidal.loop")

# After this many writes to a dead connection, warn (asyncio uses the same
# threshold so that a protocol that ignores connection_lost is noticed once).
LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5
DEFAULT_HIGH_WATER = 64 * 1024
# recv(n) allocates n bytes and then shrinks them to what arrived.  glibc
# serves allocations from 128 KiB up with mmap(), so a 256 KiB recv() per
# message costs mmap + mremap + munmap (and a page fault) in the kernel --
# several microseconds per 1 KiB message.  Reads therefore start at 64 KiB,
# grow (up to max_size) while they come back full, and drop back once one
# is small again.
SMALL_READ_SIZE = 64 * 1024

BytesLike = bytes | bytearray | memoryview


def set_result_unless_cancelled(future: asyncio.Future[None]) -> None:
    """Complete ``future`` with None unless someone cancelled it meanwhile."""
    if not future.cancelled():
        future.set_result(None)


def enable_nodelay(sock: socket.socket) -> None:
    """Turn off Nagle's algorithm on TCP sockets, as asyncio does by default."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # e.g. a socket whose peer already reset
            pass


class SocketTransportBase(asyncio.Transport):
    """What stream and datagram socket transports share.

    Owns the socket, the protocol, the persistent read registration, the
    write-side flow control and the single close / fatal-error path.
    Subclasses set ``_read_step`` and provide the write buffer.  (It is an
    ``asyncio.Transport`` even for datagrams, as asyncio's own are.)
    """

    max_size = 256 * 1024  # the most bytes one readiness callback reads

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
    ) -> None:
        info = dict(extra or {})
        info["socket"] = trsock.TransportSocket(sock)
        info.setdefault("sockname", _address_or_none(sock.getsockname))
        if "peername" not in info:
            info["peername"] = _address_or_none(sock.getpeername)
        super().__init__(info)
        self._loop: asyncio.AbstractEventLoop = loop
        self._sock: socket.socket | None = sock
        self._sock_fd = sock.fileno()
        self._protocol = protocol
        self._server = server
        self._closing = False  # close() or a fatal error started the end
        self._conn_lost = 0  # >0 once connection_lost is scheduled; counts late writes
        self._lost_called = False
        self._paused = False  # pause_reading() in effect
        self._reader_registered = False
        self._writer_registered = False
        self._protocol_paused = False  # we called protocol.pause_writing()
        self._read_step: Callable[[], None] = self._read_nothing  # the reader callback
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4
        if server is not None:
            server._attach()

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else ("closing" if self._closing else "open")
        return f"<{type(self).__name__} fd={self._sock_fd} {state}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()

    # -- protocol and state ------------------------------------------------
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Switch the protocol that receives this transport's events."""
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The protocol currently receiving this transport's events."""
        return self._protocol

    def is_closing(self) -> bool:
        """True once close() or abort() was called or the connection failed."""
        return self._closing

    def get_write_buffer_size(self) -> int:
        """Bytes accepted by write() that the kernel has not taken yet."""
        raise NotImplementedError  # every concrete transport overrides it

    # -- reading -------------------------------------------------------------
    def is_reading(self) -> bool:
        """True while the transport delivers incoming data to the protocol."""
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        """Stop delivering data until resume_reading() (removes the registration)."""
        if self._closing or self._paused:
            return
        self._paused = True
        self._unregister_reader()

    def resume_reading(self) -> None:
        """Deliver data again after pause_reading()."""
        if self._closing or not self._paused:
            return
        self._paused = False
        self._register_reader()

    def _register_reader(self) -> None:
        # Scheduled by __init__ after connection_made; closing or pausing in
        # between must win.
        if self._closing or self._paused or self._reader_registered:
            return
        self._reader_registered = True
        self._loop.add_reader(self._sock_fd, self._read_step)

    def _unregister_reader(self) -> None:
        if self._reader_registered:
            self._reader_registered = False
            self._loop.remove_reader(self._sock_fd)

    def _read_nothing(self) -> None:
        raise NotImplementedError  # concrete transports set _read_step

    def _register_writer(self) -> None:
        if not self._writer_registered:
            self._writer_registered = True
            self._loop.add_writer(self._sock_fd, self._on_writable)

    def _unregister_writer(self) -> None:
        if self._writer_registered:
            self._writer_registered = False
            self._loop.remove_writer(self._sock_fd)

    def _on_writable(self) -> None:
        raise NotImplementedError  # every concrete transport overrides it

    # -- write flow control ---------------------------------------------------
    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks that drive pause_writing()/resume_writing()."""
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The (low, high) water marks of the write buffer."""
        return (self._low_water, self._high_water)

    def _maybe_pause_protocol(self) -> None:
        if self.get_write_buffer_size() <= self._high_water or self._protocol_paused:
            return
        self._protocol_paused = True
        self._notify_protocol("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            self._notify_protocol("resume_writing")

    def _notify_protocol(self, method: str) -> None:
        try:
            getattr(self._protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": f"protocol.{method}() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )

    # -- closing ---------------------------------------------------------------
    def close(self) -> None:
        """Close after the buffered data is flushed; connection_lost(None) follows."""
        if self._closing:
            return
        self._closing = True
        self._unregister_reader()
        if not self.get_write_buffer_size():
            self._schedule_connection_lost(None)

    def abort(self) -> None:
        """Close at once, discarding buffered data; connection_lost(None) follows."""
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        """The single path every unrecoverable error takes."""
        if isinstance(exc, OSError):
            # Peers resetting connections are routine; only debug mode logs them.
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._clear_write_buffer()
        self._unregister_writer()
        if not self._closing:
            self._closing = True
            self._unregister_reader()
        self._schedule_connection_lost(exc)

    def _clear_write_buffer(self) -> None:
        raise NotImplementedError  # every concrete transport overrides it

    def _schedule_connection_lost(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._conn_lost += 1
        self._unregister_writer()
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._lost_called:
            return
        self._lost_called = True
        try:
            self._protocol.connection_lost(exc)  # type: ignore[arg-type]  # asyncio passes BaseException too
        finally:
            self._unregister_reader()
            self._unregister_writer()
            # _read_step is a bound method of self: a reference cycle that
            # would keep the transport and its protocol alive until the
            # garbage collector runs.  A closed transport reads nothing.
            self._read_step = _closed_reader
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            server, self._server = self._server, None
            if server is not None:
                server._detach()

    def _count_write_after_loss(self) -> None:
        if self._conn_lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
            logger.warning("socket.send() raised exception.")
        self._conn_lost += 1


def _address_or_none(getter: Any) -> Any:
    try:
        return getter()
    except OSError:  # not connected, or already reset by the peer
        return None


class StreamTransport(SocketTransportBase):
    """A TCP or Unix stream-socket transport (see the module docstring).

    Construction schedules ``protocol.connection_made(self)``, then the read
    registration, then ``waiter``'s result, in that order.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
    ) -> None:
        super().__init__(loop, sock, protocol, extra, server)
        enable_nodelay(sock)
        self._buffer = bytearray()
        self._eof = False  # write_eof() was called
        self._eof_received = False  # the peer's EOF was seen and we stayed open
        self._drained_waiter: asyncio.Future[None] | None = None  # native sendfile
        self._read_size = SMALL_READ_SIZE  # see SMALL_READ_SIZE
        self._select_read_path()
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._register_reader)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Switch protocols; a BufferedProtocol is then fed through get_buffer()."""
        super().set_protocol(protocol)
        self._select_read_path()

    def _select_read_path(self) -> None:
        # The readiness callback is chosen once per protocol switch, not
        # re-tested on every read; a live registration is re-pointed.
        if isinstance(self._protocol, asyncio.BufferedProtocol):
            self._read_step = self._read_into_buffer
        else:
            self._read_step = self._read_bytes
        if self._reader_registered:
            self._loop.add_reader(self._sock_fd, self._read_step)

    def _register_reader(self) -> None:
        if not self._eof_received:
            super()._register_reader()

    def _read_bytes(self) -> None:
        if self._conn_lost or self._sock is None:
            return
        size = self._read_size
        try:
            data = self._sock.recv(size)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        received = len(data)
        if received == size:
            self._read_size = min(size * 4, self.max_size)  # bulk data: read more per callback
        elif received < SMALL_READ_SIZE:
            if not received:
                self._on_eof()
                return
            self._read_size = SMALL_READ_SIZE
        try:
            self._protocol.data_received(data)  # type: ignore[attr-defined]
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_into_buffer(self) -> None:
        if self._conn_lost or self._sock is None:
            return
        protocol: Any = self._protocol
        try:
            buffer = protocol.get_buffer(-1)
            if not len(buffer):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = self._sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            self._on_eof()
            return
        try:
            protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _on_eof(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()  # type: ignore[attr-defined]
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # Half-closed: the peer will send nothing more, so stop polling
            # (a readable-at-EOF socket would otherwise spin the loop).
            self._eof_received = True
            self._unregister_reader()
        else:
            self.close()

    # -- writing -------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data``: straight to the kernel when possible, else buffered."""
        # Hot path (one call per message): the common case -- bytes, nothing
        # buffered, the kernel takes everything -- is one send() and no call.
        if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._drained_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            self._count_write_after_loss()
            return
        if not self._buffer:
            try:
                sent = self._sock.send(data)  # type: ignore[union-attr]  # None only once _conn_lost is set
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._register_writer()
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        """Write every buffer in ``list_of_data``, in order, as one write."""
        self.write(b"".join(list_of_data))

    def _on_writable(self) -> None:
        if self._conn_lost or self._sock is None:
            return
        try:
            sent = self._sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._unregister_writer()
            self._buffer.clear()
            self._fail_drained_waiter(exc)
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        del self._buffer[:sent]  # O(1) at the front of a bytearray
        self._maybe_resume_protocol()
        if not self._buffer:
            self._on_drained()

    def _on_drained(self) -> None:
        self._unregister_writer()
        if self._drained_waiter is not None and not self._drained_waiter.done():
            self._drained_waiter.set_result(None)
        if self._closing:
            self._schedule_connection_lost(None)
        elif self._eof and self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError as exc:  # the peer reset while the buffer drained
                self._fatal_error(exc, "Fatal error on socket shutdown")

    def write_eof(self) -> None:
        """Half-close: shut down the sending side once the buffer is flushed."""
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer and self._sock is not None:
            self._sock.shutdown(socket.SHUT_WR)

    def can_write_eof(self) -> bool:
        """Stream sockets support half-close."""
        return True

    def get_write_buffer_size(self) -> int:
        """Bytes accepted by write() that the kernel has not taken yet."""
        return len(self._buffer)

    def _clear_write_buffer(self) -> None:
        self._buffer.clear()
        self._fail_drained_waiter(ConnectionError("Connection closed while sendfile waited to start"))

    def _fail_drained_waiter(self, exc: BaseException) -> None:
        if self._drained_waiter is not None and not self._drained_waiter.done():
            self._drained_waiter.set_exception(exc)

    # -- native sendfile support -----------------------------------------------
    def _start_sendfile(self) -> asyncio.Future[None]:
        """Block write() and return a future that completes once the buffer drains."""
        if self._drained_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._drained_waiter = self._loop.create_future()
        if not self._buffer:
            self._drained_waiter.set_result(None)
        return self._drained_waiter

    def _end_sendfile(self) -> None:
        self._drained_waiter = None


# --------------------------------------------------------------------------
# loop.sendfile()


class SendfileMode(enum.Enum):
    """How ``sendfile`` may drive a transport."""

    UNSUPPORTED = enum.auto()
    TRY_NATIVE = enum.auto()
    FALLBACK = enum.auto()


def _sendfile_mode(transport: asyncio.BaseTransport) -> SendfileMode:
    if isinstance(transport, StreamTransport):
        return SendfileMode.TRY_NATIVE
    # Foreign transports (asyncio's own, or wrappers such as TLS) declare
    # their capability the way asyncio reads it: an enum member's name.
    declared = getattr(transport, "_sendfile_compatible", None)
    name = getattr(declared, "name", None)
    if isinstance(name, str) and name in SendfileMode.__members__:
        return SendfileMode[name]
    return SendfileMode.UNSUPPORTED


async def sendfile(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.WriteTransport,
    file: Any,
    offset: int = 0,
    count: int | None = None,
    *,
    fallback: bool = True,
) -> int:
    """Send ``file`` over ``transport``; ``loop.sendfile``'s contract.

    Uses ``os.sendfile`` on the transport's socket when the transport is a
    plain stream transport and the file is a regular file; otherwise (or if
    the syscall refuses) reads the file in a thread and writes it, honouring
    the transport's flow control.  Returns the number of bytes sent and
    leaves the file position just after them.
    """
    if transport.is_closing():
        raise RuntimeError("Transport is closing")
    mode = _sendfile_mode(transport)
    if mode is SendfileMode.UNSUPPORTED:
        raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
    if mode is SendfileMode.TRY_NATIVE:
        assert isinstance(transport, StreamTransport)
        try:
            return await _sendfile_native(loop, transport, file, offset, count)
        except asyncio.SendfileNotAvailableError:
            if not fallback:
                raise
    if not fallback:
        raise RuntimeError(
            f"fallback is disabled and native sendfile is not supported for transport {transport!r}"
        )
    return await _sendfile_fallback(loop, transport, file, offset, count)


def _check_sendfile_params(file: Any, offset: int, count: int | None) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


def _regular_file_descriptor(file: Any) -> tuple[int, int]:
    """(fd, size) of ``file``, or SendfileNotAvailableError if it has none."""
    if not hasattr(os, "sendfile"):
        raise asyncio.SendfileNotAvailableError("os.sendfile() is not available")
    try:
        fileno = file.fileno()
        return fileno, os.fstat(fileno).st_size
    except (AttributeError, io.UnsupportedOperation, OSError) as exc:
        raise asyncio.SendfileNotAvailableError("not a regular file") from exc


async def _sendfile_native(
    loop: asyncio.AbstractEventLoop, transport: StreamTransport, file: Any, offset: int, count: int | None
) -> int:
    _check_sendfile_params(file, offset, count)
    fileno, size = _regular_file_descriptor(file)
    resume_reading = transport.is_reading()
    transport.pause_reading()
    try:
        await transport._start_sendfile()
        sock = transport._sock
        if sock is None:
            raise ConnectionError("Connection closed by peer")
        return await _SendfilePump(loop, sock, fileno, offset, count or size).run()
    finally:
        transport._end_sendfile()
        if resume_reading:
            transport.resume_reading()


class _SendfilePump:
    """Drives ``os.sendfile`` with the syscall tried before waiting for POLLOUT."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, fileno: int, offset: int, limit: int):
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._fileno = fileno
        self._offset = offset
        self._start = offset
        self._remaining = limit
        self._sent = 0
        self._future: asyncio.Future[int] = loop.create_future()
        self._waiting = False

    async def run(self) -> int:
        if self._remaining <= 0:
            return 0  # an empty file
        self._step()
        try:
            return await self._future
        finally:
            self._stop_waiting()
            if self._sent:
                # Leave the file position after what went out, even on error.
                os.lseek(self._fileno, self._start + self._sent, os.SEEK_SET)

    def _step(self) -> None:
        if self._future.done():
            return
        while self._remaining > 0:
            try:
                sent = os.sendfile(self._fd, self._fileno, self._offset, self._remaining)
            except (BlockingIOError, InterruptedError):
                self._wait_writable()
                return
            except OSError as exc:
                self._fail(exc)
                return
            if sent == 0:  # end of file before count bytes
                break
            self._offset += sent
            self._sent += sent
            self._remaining -= sent
        self._future.set_result(self._sent)

    def _fail(self, exc: OSError) -> None:
        if self._sent == 0:
            # Typical cause: the file is not mmap-able; the fallback can send it.
            error: BaseException = asyncio.SendfileNotAvailableError("os.sendfile call failed")
            error.__cause__ = exc
        elif exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
            # Normalise "peer went away mid-transfer" across POSIX systems.
            error = ConnectionError("socket is not connected", errno.ENOTCONN)
            error.__cause__ = exc
        else:
            error = exc
        self._future.set_exception(error)

    def _wait_writable(self) -> None:
        if not self._waiting:
            self._waiting = True
            self._loop.add_writer(self._fd, self._step)

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self._loop.remove_writer(self._fd)


async def _sendfile_fallback(
    loop: asyncio.AbstractEventLoop, transport: asyncio.WriteTransport, file: Any, offset: int, count: int | None
) -> int:
    _check_sendfile_params(file, offset, count)
    if offset:
        file.seek(offset)
    blocksize = min(count, 16384) if count else 16384
    buffer = bytearray(blocksize)
    total_sent = 0
    proto = _SendfileFallbackProtocol(loop, transport)
    try:
        while True:
            if count:
                blocksize = min(count - total_sent, blocksize)
                if blocksize <= 0:
                    return total_sent
            view = memoryview(buffer)[:blocksize]
            read = await loop.run_in_executor(None, file.readinto, view)
            if not read:
                return total_sent
            await proto.drain()
            # write() copies what the kernel does not take, so reusing the
            # buffer for the next read is safe.
            transport.write(view[:read])
            total_sent += read
    finally:
        if total_sent > 0 and hasattr(file, "seek"):
            file.seek(offset + total_sent)
        proto.restore()


class _SendfileFallbackProtocol(asyncio.Protocol):
    """Stands in for the user's protocol while the fallback writes the file.

    Reading is paused for the duration; write flow control becomes a future
    the copy loop awaits; the user's protocol is restored afterwards.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: Any) -> None:
        self._loop = loop
        self._transport: Any = transport
        self._proto = transport.get_protocol()
        # A write-only transport has no reading to pause.
        self._should_resume_reading = bool(getattr(transport, "is_reading", lambda: False)())
        self._should_resume_writing = bool(getattr(transport, "_protocol_paused", False))
        if self._should_resume_reading:
            self._transport.pause_reading()
        self._transport.set_protocol(self)
        self._write_ready: asyncio.Future[None] | None = (
            loop.create_future() if self._should_resume_writing else None
        )

    async def drain(self) -> None:
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self._write_ready is not None:
            await self._write_ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raise RuntimeError("Invalid state: connection should have been established already.")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._write_ready is not None and not self._write_ready.done():
            self._write_ready.set_exception(exc or ConnectionError("Connection is closed by peer"))
        self._proto.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._write_ready is None:
            self._write_ready = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._write_ready is not None:
            if not self._write_ready.done():
                self._write_ready.set_result(None)
            self._write_ready = None

    def data_received(self, data: bytes) -> None:
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self) -> bool | None:
        raise RuntimeError("Invalid state: reading should be paused")

    def restore(self) -> None:
        self._transport.set_protocol(self._proto)
        if self._should_resume_reading:
            self._transport.resume_reading()
        if self._write_ready is not None:
            self._write_ready.cancel()
        if self._should_resume_writing:
            self._proto.resume_writing()


def _closed_reader() -> None:
    """The reader callback of a transport whose connection is lost: nothing to read."""
