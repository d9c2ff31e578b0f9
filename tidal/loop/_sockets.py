"""The ``sock_*`` coroutines: try the syscall, wait only when the kernel says EAGAIN.

Each method first performs the syscall directly; data that is already there
costs no future, no handle and no poller call.  Only on ``BlockingIOError``
is a completion-style :mod:`~tidal.loop._ops` operation submitted to the fd's
record (:mod:`tidal.loop._io`), which keeps its poller registration across
operations.  The sockets must be non-blocking (checked in debug mode, as
asyncio does).
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import ssl
from typing import Any

from tidal.loop._ops import (
    Accept,
    Connect,
    Recv,
    RecvFrom,
    RecvFromInto,
    RecvInto,
    SendAll,
    SendFile,
    SendTo,
)
from tidal.loop._poller import READ
from tidal.loop._signals import SignalLoop

__all__ = ["SocketLoop"]

_SSLSocket = ssl.SSLSocket
_new_operation = object.__new__
_Future = asyncio.Future
# Futures are made with ``loop=self`` although ``_Future()`` alone would
# skip building a kwargs dict: finding the running loop costs a getpid()
# system call per lookup in CPython 3.11 (a fork check), which is dearer
# than the dict.
_SENDFILE_FALLBACK_CHUNK = 256 * 1024
_UNBOUNDED = 2**62


class SocketLoop(SignalLoop):
    """Adds the low-level socket coroutines of ``asyncio.AbstractEventLoop``."""

    def _check_socket(self, sock: socket.socket) -> None:
        if isinstance(sock, _SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        """Receive up to ``nbytes`` from a connected socket."""
        self._check_socket(sock)
        try:
            return sock.recv(nbytes)
        except (BlockingIOError, InterruptedError):
            pass
        future: asyncio.Future[bytes] = _Future(loop=self)
        self._io.submit_read(sock.fileno(), sock, Recv(future, sock, nbytes))
        return await future

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into ``buf``; return the number of bytes received (0 at EOF)."""
        # Hot path: the socket checks are inlined.
        if self._debug or isinstance(sock, _SSLSocket):
            self._check_socket(sock)
        fd = sock.fileno()
        io = self._io
        # A failed try costs more than the receive itself (the interpreter
        # builds a BlockingIOError), so it is skipped while the fd is known
        # to be drained; the _io module docstring says why that is safe.
        record = io.records.get(fd)
        if record is None or not record.read_drained or record.owner is not sock:
            try:
                return sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                pass
        future: asyncio.Future[int] = _Future(loop=self)
        operation = _new_operation(RecvInto)  # RecvInto(future, sock, buf, 0) without the __init__ calls
        operation.future = future
        operation.sock = sock
        operation.buffer = buf
        operation.nbytes = 0
        if record is not None and record.owner is sock and record.armed & READ and not record.read_ops:
            record.read_ops.append(operation)  # the steady state of submit_read, inlined
        else:
            record = io.submit_read(fd, sock, operation)
        received = await future
        if received and received < (buf.nbytes if type(buf) is memoryview else len(buf)):
            record.read_drained = True  # a short read: the kernel had no more
        return received

    def sock_wait_readable(self, sock: socket.socket) -> asyncio.Future[None]:
        """A future resolved when ``sock`` is readable; nothing is read (tidal extension).

        For callers that got EAGAIN and will make the syscall themselves once
        resumed (so a cancellation can never lose received bytes).  Unlike
        ``add_reader``/``remove_reader`` it rides the fd's persistent
        registration: a receive loop costs no ``epoll_ctl`` in the steady
        state.  Cancel the future to stop waiting.
        """
        future: asyncio.Future[None] = _Future(loop=self)
        fd = sock.fileno()
        record = self._io.records.get(fd)
        if record is not None and record.owner is sock and record.armed & READ:
            waiters = record.read_waiters
            if not waiters:
                waiters.append(future)  # the steady state, inlined: the interest is armed already
                return future
        self._io.add_read_waiter(fd, sock, future)
        return future

    def sock_recv_into_or_wait(self, sock: socket.socket, buf: Any) -> int | asyncio.Future[None]:
        """Receive into ``buf`` now, or say when to try again (tidal extension).

        Returns the byte count (0 at EOF) when the syscall got data, or a
        future resolved once ``sock`` is readable (:meth:`sock_wait_readable`)
        when there was nothing.  For callers that make the syscall themselves
        so a cancellation never loses bytes: one call per attempt, whichever
        way it goes.  A short read is remembered, so the next call goes
        straight to the wait instead of paying for a ``recv_into`` bound to
        fail (the interpreter builds a ``BlockingIOError`` for it, which costs
        more than the receive itself); see ``FdRecord.read_drained`` for why
        that is safe.  Any ``OSError`` other than EAGAIN propagates.
        """
        fd = sock.fileno()
        io = self._io
        record = io.records.get(fd)
        if record is None or not record.read_drained or record.owner is not sock:
            try:
                received: int = sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                pass
            else:
                if received and record is not None and received < len(buf) and record.owner is sock:
                    record.read_drained = True  # a short read: the kernel had no more
                return received
        future: asyncio.Future[None] = _Future(loop=self)
        if record is not None and record.owner is sock and record.armed & READ and not record.read_waiters:
            record.read_waiters.append(future)  # the steady state, inlined: the interest is armed already
        else:
            io.add_read_waiter(fd, sock, future)
        return future

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        """Receive one datagram of at most ``bufsize`` bytes and its source address."""
        self._check_socket(sock)
        try:
            return sock.recvfrom(bufsize)
        except (BlockingIOError, InterruptedError):
            pass
        future: asyncio.Future[tuple[bytes, Any]] = _Future(loop=self)
        self._io.submit_read(sock.fileno(), sock, RecvFrom(future, sock, bufsize))
        return await future

    async def sock_recvfrom_into(self, sock: socket.socket, buf: Any, nbytes: int = 0) -> tuple[int, Any]:
        """Receive one datagram into ``buf``; return (size, source address)."""
        self._check_socket(sock)
        if not nbytes:
            nbytes = len(buf)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except (BlockingIOError, InterruptedError):
            pass
        future: asyncio.Future[tuple[int, Any]] = _Future(loop=self)
        self._io.submit_read(sock.fileno(), sock, RecvFromInto(future, sock, buf, nbytes))
        return await future

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send every byte of ``data``; completes when the kernel has taken them all."""
        if self._debug or isinstance(sock, _SSLSocket):  # hot path: checks inlined
            self._check_socket(sock)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        else:
            kind = type(data)
            if kind is memoryview:
                if sent == data.nbytes:
                    return
            elif sent == (len(data) if kind is bytes or kind is bytearray else memoryview(data).nbytes):
                return
        view = memoryview(data).cast("B")[sent:]
        future: asyncio.Future[None] = _Future(loop=self)
        self._io.submit_write(sock.fileno(), sock, SendAll(future, sock, view))
        await future

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        """Send one datagram to ``address``; return the number of bytes sent."""
        self._check_socket(sock)
        try:
            return sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):
            pass
        future: asyncio.Future[int] = _Future(loop=self)
        self._io.submit_write(sock.fileno(), sock, SendTo(future, sock, data, address))
        return await future

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        """Accept a connection; the new socket is non-blocking."""
        self._check_socket(sock)
        try:
            conn, address = sock.accept()
        except (BlockingIOError, InterruptedError):
            pass
        else:
            conn.setblocking(False)
            return conn, address
        future: asyncio.Future[tuple[socket.socket, Any]] = _Future(loop=self)
        self._io.submit_read(sock.fileno(), sock, Accept(future, sock))
        return await future

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connect ``sock`` to ``address``, resolving a host name first if needed."""
        self._check_socket(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            address = await self._resolve_for(sock, address)
        try:
            sock.connect(address)
        except (BlockingIOError, InterruptedError):
            pass
        else:
            return
        future: asyncio.Future[None] = _Future(loop=self)
        self._io.submit_write(sock.fileno(), sock, Connect(future, sock, address))
        await future

    async def _resolve_for(self, sock: socket.socket, address: Any) -> Any:
        host, port = address[:2]
        if isinstance(port, int) and _is_numeric_host(sock.family, host):
            return address
        infos = await self.getaddrinfo(host, port, family=sock.family, type=sock.type, proto=sock.proto)
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos[0][4]

    async def sock_sendfile(
        self, sock: socket.socket, file: Any, offset: int = 0, count: int | None = None, *, fallback: bool | None = True
    ) -> int:
        """Send a file with ``os.sendfile``, or by reading and sending chunks if that is unavailable."""
        self._check_socket(sock)
        _check_sendfile_params(sock, file, offset, count)
        try:
            return await self._sendfile_native(sock, file, offset, count)
        except asyncio.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sendfile_fallback(sock, file, offset, count)

    async def _sendfile_native(self, sock: socket.socket, file: Any, offset: int, count: int | None) -> int:
        file_fd = _regular_file_fd(file)
        size = os.fstat(file_fd).st_size
        if not (count or size):
            return 0
        future: asyncio.Future[int] = _Future(loop=self)
        operation = SendFile(future, sock, file_fd, offset, count or _UNBOUNDED)
        try:
            if not operation.attempt():
                self._io.submit_write(sock.fileno(), sock, operation)
            return await future
        except OSError as exc:
            if operation.sent == 0:
                raise asyncio.SendfileNotAvailableError("os.sendfile call failed") from exc
            raise
        finally:
            if operation.sent:
                os.lseek(file_fd, offset + operation.sent, os.SEEK_SET)

    async def _sendfile_fallback(self, sock: socket.socket, file: Any, offset: int, count: int | None) -> int:
        if offset:
            file.seek(offset)
        chunk = min(count, _SENDFILE_FALLBACK_CHUNK) if count else _SENDFILE_FALLBACK_CHUNK
        buffer = bytearray(chunk)
        total = 0
        try:
            while True:
                if count:
                    chunk = min(count - total, chunk)
                    if chunk <= 0:
                        return total
                view = memoryview(buffer)[:chunk]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total
                await self.sock_sendall(sock, view[:read])
                total += read
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)


def _is_numeric_host(family: int, host: Any) -> bool:
    if not isinstance(host, str):
        return False
    try:
        socket.inet_pton(family, host)
    except (OSError, ValueError):
        return False
    return True


def _check_sendfile_params(sock: socket.socket, file: Any, offset: Any, count: Any) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


def _regular_file_fd(file: Any) -> int:
    if not hasattr(os, "sendfile"):
        raise asyncio.SendfileNotAvailableError("os.sendfile() is not available")
    try:
        fd: int = file.fileno()
        os.fstat(fd)
    except (AttributeError, io.UnsupportedOperation, OSError) as exc:
        raise asyncio.SendfileNotAvailableError("not a regular file") from exc
    return fd
